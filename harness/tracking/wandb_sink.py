"""Weights & Biases mirror of a run record (ARCHITECTURE.md "Run record"): same id as the run store
(`resume="allow"`, so a resumed run continues its W&B run), `group` = recipe, `job_type` = model,
tags for dataset / n / PanDA variant (the run spec's canonical name), the resolved config, step
losses, final metrics in the summary, per-class tables and a few prediction images.

Offline by default: the mode comes from `WANDB_MODE`, else the recipe's `wandb.mode`, else
`offline` (wandb.init without a mode and without an API key raises). Offline runs are written to
`<run_dir>/wandb/offline-run-*/` and pushed later with `panbench sync`. An online start-up is
bounded by `wandb.init_timeout` (W&B's own setting): a failure to reach the server is a
TrackingError naming the reason, and the run is recorded as failed, never left `running`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import ConfigError, PanbenchError
from harness.train.recipe_schema import WANDB_MODES

if TYPE_CHECKING:
    from harness.train.recipe_schema import WandbConfig
    from harness.train.run_spec import RunSpec


class TrackingError(PanbenchError):
    """W&B could not start (no network, a wrong key or server); the message says why and what to do."""


def wandb_mode(recipe_mode: str | None) -> str:
    mode = os.environ.get("WANDB_MODE") or recipe_mode or "offline"
    if mode == "dryrun":  # wandb's old name for offline
        mode = "offline"
    if mode not in WANDB_MODES:
        raise ConfigError(f"wandb mode must be one of {WANDB_MODES}, not {mode!r} (from WANDB_MODE or wandb.mode)")
    return mode


class WandbSink:
    """One W&B run per run spec; every method is a no-op when the mode is `disabled`. `n` is the
    number of original training images actually prepared (run.json's `n`)."""

    def __init__(self, spec: RunSpec, run_dir: Path, settings: WandbConfig, n: int):
        self.mode = wandb_mode(settings.mode)
        self.run = None
        if self.mode == "disabled":
            return
        import wandb

        run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self.run = wandb.init(
                project=settings.project, entity=settings.entity, id=spec.run_id, resume="allow", mode=self.mode,
                group=spec.recipe, job_type=spec.model,
                tags=[spec.dataset, f"n={n}", f"panda={spec.variant.name}"], name=spec.label(n),
                config=spec.config, dir=str(run_dir),
                settings=wandb.Settings(console="off", silent=True, init_timeout=settings.init_timeout))
        except Exception as exc:  # wandb raises CommError, UsageError, AuthenticationError, ...
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]  # W&B's hint lines dropped
            raise TrackingError(f"W&B {self.mode} start-up failed (wandb.init_timeout={settings.init_timeout:g} s): "
                                f"{reason}; check the network / WANDB_API_KEY / WANDB_BASE_URL, or train with "
                                "wandb.mode=offline and upload later with `panbench sync`") from None

    @property
    def directory(self) -> str | None:
        """The offline run folder (`wandb/offline-run-*`), the unit `wandb sync` uploads."""
        return str(Path(self.run.dir).parent) if self.run is not None else None

    def log_step(self, record: dict[str, Any]) -> None:
        if self.run is not None:
            step = int(record["step"])
            self.run.log({f"train/{k}": v for k, v in record.items() if k != "step"}, step=step)

    def log_metrics(self, metrics: dict[str, Any], step: int, prefix: str = "val") -> None:
        if self.run is not None:
            self.run.log({f"{prefix}/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}, step=step)

    def log_final(self, metrics: dict[str, Any], categories: list[dict], images: list[dict] | None = None) -> None:
        """Summary = the flat metrics; `per_class` as a table; prediction images with their masks, or
        a synthesis run's sample grids (items with a `grid`), each captioned with its file name."""
        if self.run is None:
            return
        import wandb

        flat = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        self.run.summary.update(flat)
        per_class = metrics.get("per_class") or {}
        columns = ["category_id", "name", "isthing", *sorted({k for row in per_class.values() for k in row})]
        names = {int(c["id"]): (c["name"], bool(c["isthing"])) for c in categories}
        rows = []
        for cid, row in sorted(per_class.items(), key=lambda kv: int(kv[0])):
            name, isthing = names.get(int(cid), (str(cid), False))
            rows.append([int(cid), name, isthing, *(row.get(k) for k in columns[3:])])
        payload: dict[str, Any] = {"per_class": wandb.Table(columns=columns, data=rows)}
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
        self.run.log(payload)

    def finish(self, exit_code: int = 0) -> None:
        if self.run is not None:
            self.run.finish(exit_code=exit_code)
            self.run = None
