"""Which task trains a recipe's model: one table from model family to task class, so the run
(harness/train/run.py) stays the same for every kind of model. A task class is built with
`from_config(recipe, prepared_data)` (harness/train/task.py says what a task provides)."""

from __future__ import annotations

from harness.models.registry import model_family
from harness.train.data_sources import PreparedData
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


def build_task(recipe: RecipeConfig, prepared: PreparedData) -> Task:
    """The task that trains `recipe.model.name` on the prepared folders."""
    return TASKS[model_family(recipe.model.name)].from_config(recipe, prepared)
