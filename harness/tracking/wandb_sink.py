"""Weights & Biases mirror of a run record (ARCHITECTURE.md "Run record"): one W&B run per run id,
`group` = recipe, `job_type` = model, name `recipe/model/n=N/variant/seed=S`, tags for dataset / n /
seed / PanDA variant (the run spec's canonical name, where PanDA applies), the resolved config's
sections that apply to the run, step losses as `train/*`, evaluations as `val/*` (every `eval.every`
iterations and at the end, the final ones also in the summary), a per-class table and a few
prediction images captioned with their file names.

The W&B id is the run id plus the store's salt (harness.tracking.run_store), so two stores that
run the same cell into one W&B project make two W&B runs.

Offline by default: the mode comes from `WANDB_MODE`, else the recipe's `wandb.mode`, else
`offline` (wandb.init without a mode and without an API key raises). Offline runs are written to
`<run_dir>/wandb/offline-run-*/` and pushed later with `panbench sync`. wandb cannot resume an
offline run (it ignores `resume` offline and writes a new `offline-run-*` folder each start), and
`wandb sync` of several folders of one id keeps only one of them. So a restarted run rebuilds its
one offline folder: the old folder is removed and `history.jsonl`, already cut back to the
checkpoint, is replayed into the new one before training goes on. Online, a restart continues the
same W&B run (`resume="allow"`). An online start-up is bounded by `wandb.init_timeout` (W&B's own
setting): a failure to reach the server is a TrackingError naming the reason, and the run is
recorded as failed, never left `running`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from harness.config.recipe_schema import WANDB_MODES, applicable_config
from harness.errors import ConfigError, PanbenchError
from harness.models.registry import model_family
from harness.tracking.run_store import OFFLINE_GLOB, WANDB_DIR

if TYPE_CHECKING:
    from harness.config.recipe_schema import WandbConfig
    from harness.config.run_spec import RunSpec

IDENTITY_COLUMNS = ("category_id", "name", "isthing")  # the per-class table's first columns
NOT_IN_WANDB_CONFIG = ("launch",)  # how a run was launched (SLURM partition, ...) is not what it is


class TrackingError(PanbenchError):
    """W&B could not start (no network, a wrong key or server); the message says why and what to do."""


def wandb_mode(recipe_mode: str | None) -> str:
    mode = os.environ.get("WANDB_MODE") or recipe_mode or "offline"
    if mode == "dryrun":  # wandb's old name for offline
        mode = "offline"
    if mode not in WANDB_MODES:
        raise ConfigError(f"wandb mode must be one of {WANDB_MODES}, not {mode!r} (from WANDB_MODE or wandb.mode)")
    return mode


def wandb_config(config: dict) -> dict:
    """The W&B config: the sections that apply to the run (recipe_schema.applicable_config), without
    how it was launched. The run id is computed from the full config, never from this."""
    return {k: v for k, v in applicable_config(config).items() if k not in NOT_IN_WANDB_CONFIG}


def run_tags(spec: RunSpec, n: int) -> list[str]:
    """dataset, `n=`, `seed=`, and `panda=<variant>` where PanDA applies: panoptic runs (whose
    baseline is `panda=none`) and any run trained with it."""
    applies = spec.variant.name != "none" or model_family(spec.model) == "panoptic"
    return [spec.dataset, f"n={n}", f"seed={spec.seed}", *([f"panda={spec.variant.name}"] if applies else [])]


def _numbers(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    return {f"{prefix}/{k}": v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


class WandbSink:
    """One W&B run per run spec; every method is a no-op when the mode is `disabled`. `n` is the
    number of original training images actually prepared (run.json's `n`); `history` the run's
    history.jsonl records so far (replayed into a rebuilt offline run)."""

    def __init__(self, spec: RunSpec, run_dir: Path, settings: WandbConfig, n: int, wandb_id: str,
                 history: Iterable[dict] = ()):
        self.mode = wandb_mode(settings.mode)
        self.run = None
        if self.mode == "disabled":
            return
        import wandb

        run_dir.mkdir(parents=True, exist_ok=True)
        if self.mode == "offline":
            for old in (run_dir / WANDB_DIR).glob(OFFLINE_GLOB):  # the run folder is confined (RunStore.confine)
                if old.is_symlink():  # the link goes, never what it points to (rmtree never follows links)
                    old.unlink()
                else:
                    shutil.rmtree(old)
        try:
            self.run = wandb.init(
                project=settings.project, entity=settings.entity, id=wandb_id, mode=self.mode,
                **({"resume": "allow"} if self.mode == "online" else {}),
                group=spec.recipe, job_type=spec.model, tags=run_tags(spec, n),
                name=f"{spec.label(n)}/seed={spec.seed}", config=wandb_config(spec.config), dir=str(run_dir),
                settings=wandb.Settings(console="off", silent=True, init_timeout=settings.init_timeout))
        except Exception as exc:  # wandb raises CommError, UsageError, AuthenticationError, ...
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # W&B's hint lines dropped
            raise TrackingError(f"W&B {self.mode} start-up failed (wandb.init_timeout={settings.init_timeout:g} s): "
                                f"{reason}; check the network / WANDB_API_KEY / WANDB_BASE_URL, or train with "
                                "wandb.mode=offline and upload later with `panbench sync`") from None
        if self.mode == "offline":
            self.replay(history)

    @property
    def directory(self) -> str | None:
        """The offline run folder (`wandb/offline-run-*`), the unit `wandb sync` uploads."""
        return str(Path(self.run.dir).parent) if self.run is not None else None

    def replay(self, history: Iterable[dict]) -> None:
        """Log history.jsonl records as they were logged: step records as `train/*`, evaluations as `val/*`."""
        for record in history:
            if "eval" in record:
                self.log_metrics(record["eval"], int(record["step"]))
            else:
                self.log_step(record)

    def log_step(self, record: dict[str, Any]) -> None:
        if self.run is not None:
            step = int(record["step"])
            self.run.log({f"train/{k}": v for k, v in record.items() if k != "step"}, step=step)

    def log_metrics(self, metrics: dict[str, Any], step: int, prefix: str = "val") -> None:
        if self.run is not None:
            self.run.log(_numbers(metrics, prefix), step=step)

    def log_final(self, metrics: dict[str, Any], categories: list[dict], images: list[dict] | None,
                  step: int) -> None:
        """The final evaluation at the last step: flat metrics as `val/*` (history and summary),
        `per_class` as a table, prediction images with their masks, or a synthesis run's sample grids
        (items with a `grid`), each captioned with its file name."""
        if self.run is None:
            return
        import wandb

        final = _numbers(metrics, "val")
        per_class = metrics.get("per_class") or {}
        measures = sorted({k for row in per_class.values() for k in row} - set(IDENTITY_COLUMNS))
        names = {int(c["id"]): (c["name"], bool(c["isthing"])) for c in categories}
        rows = []
        for cid, row in sorted(per_class.items(), key=lambda kv: int(kv[0])):
            name, isthing = names.get(int(cid), (str(row.get("name", cid)), False))
            rows.append([int(cid), name, isthing, *(row.get(k) for k in measures)])
        payload: dict[str, Any] = {**final, "per_class": wandb.Table(columns=[*IDENTITY_COLUMNS, *measures], data=rows)}
        labels = {**{i: c["name"] for i, c in enumerate(categories)}, 255: "void"}
        images = images or []
        grids = [item for item in images if "grid" in item]  # synthesis: label | real | generated
        if grids:
            payload["samples"] = [wandb.Image(np.asarray(item["grid"]), caption=str(item.get("caption", "")))
                                  for item in grids]
        predictions = [item for item in images if "grid" not in item]
        if predictions:
            payload["predictions"] = [
                wandb.Image(np.asarray(item["image"]), caption=str(item.get("caption", "")), masks={
                    "prediction": {"mask_data": np.asarray(item["prediction"]), "class_labels": labels},
                    "ground_truth": {"mask_data": np.asarray(item["ground_truth"]), "class_labels": labels}})
                for item in predictions]
        self.run.log(payload, step=step)
        self.run.summary.update(final)

    def finish(self, exit_code: int = 0) -> None:
        if self.run is not None:
            self.run.finish(exit_code=exit_code)
            self.run = None
