"""Evaluators are runs: a synthesis recipe names its segmenter and detector
(`eval.segmenter`, `eval.detector`), and `panbench evaluate synthesis --segmenter / --detector`
takes the same values, in one of three forms:

- a weights FILE: read with `load_evaluator` (architecture from its keys or its sidecar);
- a RUN ID (12 hex digits) of a finished evaluator run in the run store: its final weights,
  `<run>/predictions/evaluator.pth`, written by harness/train/tasks/evaluator/task.py;
- a RECIPE REFERENCE, `RECIPE [key=value ...]` as `panbench train` takes it, e.g.
  `synth-evaluators-mini` or `synth-evaluators-mini model.name=drn-d-mini train.epochs=20`: the
  recipe's grid cell whose model is of the kind asked for (pin `model.name` when the grid has
  several), i.e. one run spec and its run id.

A recipe reference whose run is not finished is trained first, through the one trainer and the
run store (`python -m harness.cli train RECIPE overrides --runs-root ROOT`), so a second caller
finds it finished and every synthesis run naming it shares the one run; a run that another
process is training is waited for. It trains in a child process on purpose: the caller may be a
synthesis run in the middle of its own W&B run (a second `wandb.init` in one process returns the
first), seeded RNG streams and DDP process group, none of which an evaluator's training may touch."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from harness.config.paths import DEFAULT_RUNS_ROOT
from harness.errors import ConfigError, PanbenchError
from harness.models.evaluators.registry import EVALUATORS, LoadedEvaluator, load_evaluator
from harness.tracking.run_store import PREDICTIONS, RUN_JSON, RunStore, read_record
from harness.train.tasks.evaluator.task import EVALUATOR_WEIGHTS
from harness.weight_files import candidate_path

if TYPE_CHECKING:
    from harness.config.run_spec import RunSpec

RUN_ID = re.compile(r"^[0-9a-f]{12}$")
POLL_SECONDS = 10.0
DISTRIBUTED_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
                   "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID")


class EvaluatorRunError(PanbenchError):
    """An evaluator named by run id or recipe reference cannot be had (unknown, failed, wrong kind)."""


def weights_of_run(run_dir: str | Path) -> Path:
    """Where an evaluator run keeps its final weights."""
    return Path(run_dir) / PREDICTIONS / EVALUATOR_WEIGHTS


def _kind_of(model: str) -> str | None:
    spec = EVALUATORS.get(model)
    return spec.kind if spec else None


def reference_overrides(value: str, kind: str) -> tuple[str, list[str], RunSpec]:
    """(recipe, overrides, run spec) of a recipe reference; the overrides pin `model.name` to the
    cell of `kind`, so the reference, `panbench train` and the child process mean one run."""
    from harness.config.recipes import load_recipe
    from harness.config.run_spec import RunSpec, run_specs  # noqa: F811 - the runtime import of the hinted type

    try:
        recipe, *overrides = shlex.split(value)
    except ValueError as exc:
        raise ConfigError(f"{kind} {value!r}: not a recipe reference ({exc})") from None
    cells = [s for s in run_specs(load_recipe(recipe, overrides)) if _kind_of(s.model) == kind]
    if len(cells) != 1:
        why = (f"{len(cells)} {kind} cells ({', '.join(s.model for s in cells)}): pin its grid keys to one "
               f"(model.name=..., ...)") if cells else f"no {kind} cell"
        raise EvaluatorRunError(f"{kind} {value!r}: recipe {recipe} has {why} (evaluators: "
                                f"{', '.join(n for n in sorted(EVALUATORS) if EVALUATORS[n].kind == kind)})")
    if not any(o.split("=", 1)[0].strip() == "model.name" for o in overrides):
        overrides = [*overrides, f"model.name={cells[0].model}"]
    spec = RunSpec.from_recipe(recipe, overrides)
    if spec.run_id != cells[0].run_id:
        raise EvaluatorRunError(f"{kind} {value!r}: the pinned cell is not the grid's (its other grid keys take "
                                f"their first values); pin them too")
    return recipe, overrides, spec


def run_of_weights(path: Path) -> str | None:
    """The run whose final weights `path` is (`<run>/predictions/evaluator.pth`), else None."""
    run_json = path.parent.parent / RUN_JSON
    if path.name != EVALUATOR_WEIGHTS or path.parent.name != PREDICTIONS or not run_json.is_file():
        return None
    return (read_record(run_json) or {}).get("run_id")


def evaluator_run_id(value: str, kind: str, runs_root: str | Path = DEFAULT_RUNS_ROOT) -> str | None:
    """The evaluator run `value` names, without training anything: a run id as given, a recipe
    reference's run id, the run a weights file came from; None for a file from elsewhere."""
    path = candidate_path(value)  # a bare file name: in the weights folder ($PANBENCH_WEIGHTS)
    if path.is_file() and path.suffix not in (".yaml", ".yml"):
        return run_of_weights(path)
    if RUN_ID.match(value):
        return value
    return reference_overrides(value, kind)[2].run_id


def _finished_weights(store: RunStore, rid: str, kind: str, value: str) -> Path:
    record = store.read_run(rid) or {}
    if _kind_of(str(record.get("model"))) != kind:
        raise EvaluatorRunError(f"{kind} {value!r}: run {rid} trained {record.get('model')!r}, not a {kind}")
    weights = weights_of_run(store.run_dir(rid))
    if not weights.is_file():
        raise EvaluatorRunError(f"{weights}: run {rid} is finished but has no evaluator weights (made before "
                                f"evaluator runs wrote them? delete the run folder to retrain it)")
    return weights


def _wait(seconds: float) -> None:
    time.sleep(seconds)


def _train_in_child(recipe: str, overrides: list[str], runs_root: Path, progress: bool) -> int:
    env = {k: v for k, v in os.environ.items() if k not in DISTRIBUTED_ENV}  # one process, not a DDP rank
    cmd = [sys.executable, "-m", "harness.cli", "train", recipe, *overrides, "--runs-root", str(runs_root)]
    return subprocess.call(cmd if progress else [*cmd, "--no-progress"], env=env)


def train_evaluator(value: str, kind: str, runs_root: str | Path = DEFAULT_RUNS_ROOT, *, progress: bool = True,
                    poll_seconds: float = POLL_SECONDS) -> str:
    """The run id of the evaluator recipe reference `value`, trained first when it is not finished
    (idempotent: a finished run is left alone; one that another process trains is waited for)."""
    recipe, overrides, spec = reference_overrides(value, kind)
    store, rid = RunStore(runs_root), spec.run_id
    announced = False
    while not store.is_finished(rid):
        if not announced:
            print(f"{kind} {value!r}: run {rid} is not finished; training it first "
                  f"(`panbench train {recipe} {' '.join(overrides)}`)", file=sys.stderr)
            announced = True
        code = _train_in_child(recipe, overrides, Path(runs_root), progress)
        if store.is_finished(rid):
            break
        record = store.read_run(rid) or {}
        if code != 0 or record.get("status") == "failed":
            raise EvaluatorRunError(f"{kind} {value!r}: run {rid} {record.get('status', 'did not start')} "
                                    f"(exit code {code}): {record.get('error')} (log: "
                                    f"{record.get('traceback') or store.run_dir(rid)})")
        _wait(poll_seconds)  # skipped because it runs elsewhere (the run's lock): wait for it
    return rid


def evaluator_weights(value: str, kind: str, runs_root: str | Path = DEFAULT_RUNS_ROOT, *,
                      progress: bool = True) -> Path:
    """The weights file `value` names (see the module docstring), its run trained first when it is
    a recipe reference that is not finished. A synthesis run calls it before it trains, so an
    evaluator that cannot be had fails the run at its start, not after the generator's training."""
    path = candidate_path(value)  # a bare file name: in the weights folder ($PANBENCH_WEIGHTS)
    if path.is_file() and path.suffix not in (".yaml", ".yml"):
        return path
    store = RunStore(runs_root)
    if RUN_ID.match(value):
        if not store.is_finished(value):
            status = store.status(value)
            raise EvaluatorRunError(f"{kind} {value!r}: " + (f"run {value} is {status}, not finished" if status else
                                    f"no run {value} in {store.root}") +
                                    "; name the evaluator by its recipe reference (e.g. 'synth-evaluators-mini') to "
                                    "have it trained, or give a weights file")
        rid = value
    else:
        rid = train_evaluator(value, kind, runs_root, progress=progress)
    return _finished_weights(store, rid, kind, value)


def resolve_evaluator_run(value: str, kind: str, runs_root: str | Path = DEFAULT_RUNS_ROOT, *,
                          progress: bool = True) -> LoadedEvaluator:
    """The evaluator `value` names, loaded strictly, in eval mode."""
    return load_evaluator(evaluator_weights(value, kind, runs_root, progress=progress), kind)


def evaluator_resolver(runs_root: str | Path = DEFAULT_RUNS_ROOT, *,
                       progress: bool = True) -> Callable[[str, str], LoadedEvaluator]:
    """`(value, kind) -> LoadedEvaluator` against the run store at `runs_root`: the `resolve_run`
    of `evaluate_synthesis` (the CLI and the end of every synthesis run)."""
    def resolve(value: str, kind: str) -> LoadedEvaluator:
        return resolve_evaluator_run(value, kind, runs_root, progress=progress)

    return resolve
