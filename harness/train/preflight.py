"""What would stop a run before it trains, found without preparing anything: a data root that is not
there, a weights file the model, the evaluation or a dependency (an evaluator, a generator) names that
is missing. `train` refuses such a run before it makes a run folder, `train --print-config` and `sweep
--dry-run` list every problem, and a sweep refuses to start while a run it would execute has one (a
paper-scale sweep must not fail its runs one by one, hours apart)."""

from __future__ import annotations

from harness.config.dependencies import dependencies, named_file
from harness.config.run_spec import RunSpec
from harness.data.dataset import dataset_location
from harness.errors import ConfigError, PanbenchError
from harness.models.pretrained import required_weight_files


def _data_problems(spec: RunSpec) -> list[str]:
    data = spec.settings.data
    if data.dataset == "synth":  # generated into the cache
        return []
    problems = []
    for key, split in (("root", data.split), ("val_root", data.val_split)):
        value = getattr(data, key)
        location = dataset_location(value, split)  # with a split: COCO's annotations/panoptic_<split>.json
        if not location.exists():
            problems.append(f"data.{key}={value}: {location} does not exist")
    return problems


def _weights_problems(spec: RunSpec) -> list[str]:
    from harness.train.tasks.synthesis.evaluate import EvaluatorSettings

    problems = []
    try:
        required_weight_files(spec.model, spec.settings.model.options)
    except ConfigError as exc:
        problems.append(str(exc))
    fid_weights = getattr(spec.settings.eval, "fid_weights", None)
    try:  # a weights file only: evaluators named by run id or recipe are trained when missing
        EvaluatorSettings(fid_weights=fid_weights).check(resolve_run=None)
    except PanbenchError as exc:
        problems.append(str(exc))
    for dependency in dependencies(spec.settings):  # an evaluator or generator named by a file
        try:
            named_file(dependency)
        except PanbenchError as exc:
            problems.append(str(exc))
    return problems


def preflight(spec: RunSpec) -> list[str]:
    """Every problem that would stop `spec` before training: one line each, empty when none."""
    return [*_weights_problems(spec), *_data_problems(spec)]


def refuse(spec: RunSpec, lister: str = "train --print-config") -> None:
    """A ConfigError (one line) naming the first problem, and how many more `lister` shows."""
    problems = preflight(spec)
    if problems:
        more = f" (and {len(problems) - 1} more: `{lister}` lists them)" if len(problems) > 1 else ""
        raise ConfigError(problems[0] + more)
