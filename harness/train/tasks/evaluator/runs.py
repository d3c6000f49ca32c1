"""Evaluators are runs: a synthesis recipe names its segmenter and detector (`eval.segmenter`,
`eval.detector`), and `panbench evaluate synthesis --segmenter / --detector` takes the same values:
a weights FILE, the RUN ID of a finished evaluator run (its final weights,
`<run>/predictions/evaluator.pth`, written by harness/train/tasks/evaluator/task.py), or a RECIPE REFERENCE
(harness/config/dependencies.py says how each is read).

Nothing here trains: a reference whose run is not finished is an upstream stage that the sweep
planner (harness/launch/plan.py) runs first, with the same executor, for `panbench sweep`,
`panbench train` and `evaluate synthesis` alike; a run that still finds it unfinished stops with one
line naming it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from harness.config.dependencies import (RUN_ID, Dependency, DependencyError, dependencies, named_file,
                                        reference_overrides)
from harness.config.paths import DEFAULT_RUNS_ROOT
from harness.models.evaluators.registry import DETECTOR, EVALUATORS, SEGMENTER, LoadedEvaluator, load_evaluator
from harness.tracking.run_store import PREDICTIONS, RUN_JSON, RunStore, read_record
from harness.train.tasks.evaluator.task import EVALUATOR_WEIGHTS

if TYPE_CHECKING:
    from harness.config.recipe_schema import RecipeConfig


def weights_of_run(run_dir: str | Path) -> Path:
    """Where an evaluator run keeps its final weights."""
    return Path(run_dir) / PREDICTIONS / EVALUATOR_WEIGHTS


def _kind_of(model: str) -> str | None:
    spec = EVALUATORS.get(model)
    return spec.kind if spec else None


def run_of_weights(path: Path) -> str | None:
    """The run whose final weights `path` is (`<run>/predictions/evaluator.pth`), else None."""
    run_json = path.parent.parent / RUN_JSON
    if path.name != EVALUATOR_WEIGHTS or path.parent.name != PREDICTIONS or not run_json.is_file():
        return None
    return (read_record(run_json) or {}).get("run_id")


def evaluator_run_id(value: str, kind: str, runs_root: str | Path = DEFAULT_RUNS_ROOT) -> str | None:
    """The evaluator run `value` names, without training anything: a run id as given, a recipe
    reference's run id, the run a weights file came from; None for a file from elsewhere."""
    path = named_file(Dependency(kind, kind, value))
    if path is not None:
        return run_of_weights(path)
    if RUN_ID.match(value):
        return value
    return reference_overrides(value, kind)[2].run_id


def _finished_weights(store: RunStore, rid: str, kind: str, value: str) -> Path:
    record = store.read_run(rid) or {}
    if _kind_of(str(record.get("model"))) != kind:
        raise DependencyError(f"{kind} {value!r}: run {rid} trained {record.get('model')!r}, not a {kind}")
    weights = weights_of_run(store.run_dir(rid))
    if not weights.is_file():
        raise DependencyError(f"{weights}: run {rid} is finished but has no evaluator weights (made before "
                                f"evaluator runs wrote them? delete the run folder to retrain it)")
    return weights


def evaluator_weights(value: str, kind: str, runs_root: str | Path = DEFAULT_RUNS_ROOT) -> Path:
    """The weights file `value` names (see the module docstring): the file itself, or the final
    weights of the finished run it names. A synthesis run calls it before it trains, so an evaluator
    that cannot be had fails the run at its start, not after the generator's training."""
    path = named_file(Dependency(kind, kind, value))
    if path is not None:
        return path
    store = RunStore(runs_root)
    if RUN_ID.match(value):
        if not store.is_finished(value):
            status = store.status(value)
            raise DependencyError(f"{kind} {value!r}: " + (f"run {value} is {status}, not finished" if status else
                                    f"no run {value} in {store.root}") +
                                    "; name the evaluator by its recipe reference (e.g. 'synth-evaluators-mini') to "
                                    "have it trained, or give a weights file")
        return _finished_weights(store, value, kind, value)
    recipe, overrides, spec = reference_overrides(value, kind)
    if not store.is_finished(spec.run_id):
        raise DependencyError(f"{kind} {value!r}: run {spec.run_id} is {store.status(spec.run_id) or 'not started'}, "
                                f"not finished; `panbench train` and `panbench sweep` train it first as an upstream "
                                f"stage (or: panbench train {recipe} {' '.join(overrides)})")
    return _finished_weights(store, spec.run_id, kind, value)


def resolve_evaluator_run(value: str, kind: str, runs_root: str | Path = DEFAULT_RUNS_ROOT) -> LoadedEvaluator:
    """The evaluator `value` names, loaded strictly, in eval mode."""
    return load_evaluator(evaluator_weights(value, kind, runs_root), kind)


def evaluator_resolver(runs_root: str | Path = DEFAULT_RUNS_ROOT) -> Callable[[str, str], LoadedEvaluator]:
    """`(value, kind) -> LoadedEvaluator` against the run store at `runs_root`: the `resolve_run`
    of `evaluate_synthesis` (`panbench evaluate synthesis`)."""
    def resolve(value: str, kind: str) -> LoadedEvaluator:
        return resolve_evaluator_run(value, kind, runs_root)

    return resolve


def resolved_weights(recipe: RecipeConfig, runs_root: str | Path = DEFAULT_RUNS_ROOT) -> dict[str, str]:
    """Each dependency key of `recipe` -> the weights file it resolves to (a finished run's, or the
    file given): what a synthesis task receives instead of the recipe's references."""
    return {d.key: str(evaluator_weights(d.value, d.kind, runs_root)) for d in dependencies(recipe)
            if d.kind in (SEGMENTER, DETECTOR)}  # a PanDA generator (panda.generator) is the data's, not the task's
