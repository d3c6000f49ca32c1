"""Which task trains a recipe's model: one table from model family to task class, so the run
(harness/train/run.py) stays the same for every kind of model. A task class is built with
`from_config(recipe, prepared_data)` (harness/train/task.py says what a task provides); a synthesis
task also gets the run store's evaluator resolver, since its recipe names its evaluators by run."""

from __future__ import annotations

from pathlib import Path

from harness.models.registry import model_family
from harness.train.data_sources import PreparedData
from harness.train.evaluator_runs import evaluator_resolver
from harness.train.evaluator_task import EvaluatorTask
from harness.train.panoptic_task import PanopticTask
from harness.train.recipe_schema import RecipeConfig
from harness.train.synthesis_task import GanSynthesisTask
from harness.train.task import Task

TASKS = {
    "panoptic": PanopticTask,
    "synthesis": GanSynthesisTask,
    "segmenter": EvaluatorTask,
    "detector": EvaluatorTask,
}


def build_task(recipe: RecipeConfig, prepared: PreparedData, runs_root: str | Path = "results/runs", *,
               progress: bool = True) -> Task:
    """The task that trains `recipe.model.name` on the prepared folders; a synthesis model's
    evaluators are resolved against the run store at `runs_root` (trained first when not finished)."""
    task_class = TASKS[model_family(recipe.model.name)]
    if task_class is GanSynthesisTask:
        return task_class.from_config(recipe, prepared, resolve_run=evaluator_resolver(runs_root, progress=progress),
                                     runs_root=runs_root)
    return task_class.from_config(recipe, prepared)
