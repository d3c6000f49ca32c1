"""Which task trains a recipe's model: one table from model family to task class, so the run
(harness/train/run.py) stays the same for every kind of model. A task class is built with
`from_config(recipe, prepared_data)` (harness/train/task.py says what a task provides); a synthesis
task gets its evaluators as weights files: the finished runs its recipe names, resolved against the
run store (harness/config/dependencies.py; the planner has trained them before this run starts)."""

from __future__ import annotations

from pathlib import Path

from harness.config.paths import DEFAULT_RUNS_ROOT
from harness.config.recipe_schema import RecipeConfig
from harness.models.registry import model_family
from harness.train.data_sources import PreparedData
from harness.train.task import Task
from harness.train.tasks.evaluator.runs import resolved_weights
from harness.train.tasks.evaluator.task import EvaluatorTask
from harness.train.tasks.panoptic.task import PanopticTask
from harness.train.tasks.synthesis.task import GanSynthesisTask

TASKS = {
    "panoptic": PanopticTask,
    "synthesis": GanSynthesisTask,
    "segmenter": EvaluatorTask,
    "detector": EvaluatorTask,
}


def build_task(recipe: RecipeConfig, prepared: PreparedData, runs_root: str | Path = DEFAULT_RUNS_ROOT) -> Task:
    """The task that trains `recipe.model.name` on the prepared folders; a synthesis model's
    evaluators are the weights of finished runs in the store at `runs_root` (or files)."""
    task_class = TASKS[model_family(recipe.model.name)]
    if task_class is GanSynthesisTask:
        return task_class.from_config(recipe, prepared, weights=resolved_weights(recipe, runs_root), runs_root=runs_root)
    return task_class.from_config(recipe, prepared)
