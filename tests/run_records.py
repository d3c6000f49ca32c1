"""Run records for analysis and dashboard tests, written the way training writes them (RunSpec ->
RunStore), so a drift between the producer and the consumers of run.json fails those tests.

`crafted_record` is the other case: a run.json that did not come from panbench's own training (a
store received from someone else, or hostile), written as raw JSON."""

from __future__ import annotations

import functools
from pathlib import Path

from harness.config.run_spec import RunSpec
from harness.tracking.run_store import RunStore


@functools.lru_cache(maxsize=None)
def spec_for(recipe: str = "panda-table2-mini", overrides: tuple[str, ...] = ()) -> RunSpec:
    """The spec of `panbench train RECIPE *overrides` (specs are immutable: built once per cell)."""
    return RunSpec.from_recipe(recipe, overrides)


def start_run(store: RunStore, *, n: int, panda: str, seed: int, recipe: str = "panda-table2-mini",
              model: str = "upsnet-mini", epochs: float = 10, extra: tuple[str, ...] = ()) -> str:
    """Start one run of `recipe` pinned to (n, panda, seed, model, epochs), on a synthetic pool of at
    least n images, and record its data as training does; returns the run id."""
    overrides = (f"data.n={n}", f"data.synth.count={max(n, 64)}", f"data.panda={panda}", f"seed={seed}",
                 f"model.name={model}", f"train.epochs={epochs}", *extra)
    spec = spec_for(recipe, overrides)
    store.start(spec)
    store.record_data(spec.run_id, n=n, n_train=n * (1 + spec.variant.copies), data={})
    return spec.run_id


def crafted_record(store: RunStore, run_id: str, **fields) -> Path:
    """A run.json written as raw JSON (not through a spec); returns the run folder."""
    store.write_run({"run_id": run_id, "status": "running", **fields})
    return store.run_dir(run_id)
