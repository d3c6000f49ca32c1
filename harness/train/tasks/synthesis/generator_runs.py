"""PanDA's generator canvas is a synthesis run (issue 25): `panda.generator` names it as evaluators
are named (harness/config/dependencies.py): a RUN ID of a finished synthesis run, a RECIPE REFERENCE
(planned as an upstream stage and trained once, e.g. `synth-table1-small model.name=panoptic-spade-mini`),
or a checkpoint FILE (a synthesis run's `checkpoints/last.pt`, its run.json two folders up says the model).

Nothing here trains: a generator that is missing or not finished stops the PanDA set with one line
naming it and how it gets trained. The record says which run rendered the set and whether it saw
more images than the augmented run ("+ extra data": PanDA's premise is no additional data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.config.dependencies import RUN_ID, Dependency, DependencyError, named_file, reference_overrides
from harness.config.paths import DEFAULT_RUNS_ROOT
from harness.models.registry import model_family
from harness.models.synthesis.render import LabelRenderer
from harness.panda.config import PandaConfig
from harness.tracking.run_store import CHECKPOINTS, RUN_JSON, RunStore, read_record
from harness.train.checkpoint import LAST

KIND = "synthesis"
KEY = "panda.generator"


def generator_run(value: str, runs_root: str | Path = DEFAULT_RUNS_ROOT) -> tuple[Path, dict]:
    """(checkpoint, run.json) of the finished synthesis run `value` names (module docstring)."""
    store = RunStore(runs_root)
    checkpoint = named_file(Dependency(KEY, KIND, value))
    if checkpoint is not None:
        record = read_record(checkpoint.parent.parent / RUN_JSON) if checkpoint.parent.name == CHECKPOINTS else None
        if record is None:
            raise DependencyError(f"{KEY} {value!r}: a checkpoint file must be a synthesis run's "
                                  f"{CHECKPOINTS}/{LAST}, with the run's {RUN_JSON} beside its folder")
        rid = str(record.get("run_id"))
    else:
        if RUN_ID.match(value):
            rid, how = value, "name it by its recipe reference to have it trained"
        else:
            recipe, overrides, spec = reference_overrides(value, KIND)
            rid, how = spec.run_id, (f"`panbench train` and `panbench sweep` train it first as an upstream stage "
                                     f"(or: panbench train {recipe} {' '.join(overrides)})")
        if not store.is_finished(rid):
            status = store.status(rid)
            raise DependencyError(f"{KEY} {value!r}: run {rid} is {status or 'not in ' + str(store.root)}, not "
                                  f"finished; {how}")
        record, checkpoint = store.read_run(rid) or {}, store.checkpoint_dir(rid) / LAST
    if model_family(str(record.get("model"))) != KIND:
        raise DependencyError(f"{KEY} {value!r}: run {rid} trained {record.get('model')!r}, not a synthesis model")
    if not checkpoint.is_file():
        raise DependencyError(f"{checkpoint}: synthesis run {rid} has no checkpoint to render with")
    return checkpoint, record


def label_id_classes(generator: Any, record: dict, categories: list[dict]) -> int | None:
    """The label-id count of a generator trained on label maps (run.json `label_input`), None for one
    trained on categories; a PanDA source whose category ids are not label ids of it is refused."""
    label_input = record.get("label_input")
    if not isinstance(label_input, dict) or label_input.get("source") != "label_maps":
        return None
    classes = label_input.get("num_classes")
    if type(classes) is not int or classes < 1:
        raise DependencyError(f"{KEY} {generator!r}: run {record.get('run_id')}'s label_input.num_classes is "
                              f"{classes!r}, not a class count")
    outside = sorted(int(c["id"]) for c in categories if not 0 <= int(c["id"]) < classes)
    if outside:
        raise DependencyError(f"{KEY} {generator!r}: run {record.get('run_id')} draws from {classes} label ids and "
                              f"the PanDA source's category ids {outside[:5]} are not among them (a label-map "
                              f"generator renders categories whose ids are label ids, as `panbench data "
                              f"cityscapes` writes them)")
    return classes


def panda_renderer(config: PandaConfig, categories: list[dict], n_original: int,
                   runs_root: str | Path = DEFAULT_RUNS_ROOT) -> tuple[LabelRenderer | None, dict | None]:
    """The renderer of `config.canvas` and its record for the manifest; (None, None) on noise."""
    if config.canvas == "noise":
        return None, None
    checkpoint, record = generator_run(str(config.generator), runs_root)
    model_config: dict[str, Any] = (record.get("config") or {}).get("model") or {}
    n = record.get("n")
    renderer = LabelRenderer(str(checkpoint), str(record["model"]), dict(model_config.get("options") or {}),
                             list(categories), label_id_classes(config.generator, record, categories))
    about = {"generator": config.generator, "run_id": record.get("run_id"), "model": record.get("model"),
             "n": n, "extra_data": n is not None and int(n) > n_original}
    return renderer, about
