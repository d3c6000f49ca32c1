"""One run's identity, made once from its resolved config and handed to the run store, W&B, the
sweep and (through run.json) the analysis: nothing downstream recomputes or re-parses it.

The run id is 12 hex digits of the SHA-256 of the canonical JSON (sorted keys, no spaces, ASCII) of
the result-affecting part of the resolved config (`recipe_schema.result_config`: which keys are left
out and why is written there). JSON of plain containers is the same on every process and Python
version, so one recipe cell has one id everywhere.

The PanDA variant has one spelling everywhere (run.json, W&B tags, the analysis tables): the
reference tables' names `none`, `panda-1x`, `panda-2x`, `panda-Kx`; a Table 4 ablation (1x with a
subset of the operations) is named by its operations, `dropout+resize`; other copies with a subset
are `panda-2x:dropout+resize`; PanDA parameters that differ from the paper's frozen values follow in
brackets, `panda-1x[scale_max=2.0]`. Online PanDA (drawn in the data loader) is `panda-online`, with
the same `:ops` and brackets, and its mix in the brackets first when it is not 1x's ratio
(`panda-online[mix=0.25]`). run.json also keeps the structured form (copies, ops, params, and for
online PanDA `online: true` and the mix)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from omegaconf import DictConfig, OmegaConf

from harness.config.recipe_schema import RecipeConfig, result_config
from harness.config.recipes import expand_grid, grid_keys, load_recipe, to_dict, typed_recipe
from harness.panda.config import OPS, PandaConfig
from harness.panda.online import RATIO_1X
from harness.seeding import stable_digest


def run_id(config: dict) -> str:
    """12 hex digits of the SHA-256 of the canonical JSON of the result-affecting config."""
    return stable_digest(result_config(config), 12)


@dataclass(frozen=True)
class PandaVariant:
    """How a run's training set was augmented: `copies` PanDA images per original on disk (0: none),
    or PanDA drawn online replacing a sample with probability `mix`; the operations in PanDA's order,
    and the parameters that differ from the paper's frozen values."""

    copies: int
    ops: tuple[str, ...] = OPS
    params: dict[str, Any] = field(default_factory=dict)
    online: bool = False
    mix: float | None = None  # online only
    method: str = "panda"  # data.augment (harness/panda/door.py); PanDA's ops and params apply when it has panda
    method_params: dict[str, Any] = field(default_factory=dict)  # data.augment_params

    @classmethod
    def of(cls, copies: int, config: PandaConfig, online_mix: float | None = None, method: str = "panda",
           method_params: dict[str, Any] | None = None) -> "PandaVariant":
        """`copies` offline images per original, or online PanDA at `online_mix` (then copies is 0)."""
        online = online_mix is not None
        if copies == 0 and not online:
            return cls(0, (), {})
        defaults = PandaConfig().to_dict()
        with_panda = "panda" in [m.strip() for m in method.split("+")]
        params = {k: v for k, v in config.to_dict().items() if k != "ops"
                  and (k not in defaults or v != defaults[k])} if with_panda else {}
        ops = tuple(op for op in OPS if config.enabled(op)) if with_panda else OPS
        return cls(0 if online else copies, ops, params, online, float(online_mix) if online else None,
                   method, dict(method_params or {}))

    @property
    def name(self) -> str:
        """The display name shared by run.json, W&B and the tables (see the module docstring)."""
        if self.copies == 0 and not self.online:
            return "none"
        ops = "+".join(self.ops) or "no-ops"
        full = self.ops == OPS
        if self.method != "panda":  # another door method: its name (`copy-paste-1x`, `copy-paste+panda-online`)
            head = f"{self.method}-{'online' if self.online else f'{self.copies}x'}" + ("" if full else f":{ops}")
        elif self.online:
            head = "panda-online" + ("" if full else f":{ops}")
        else:
            head = ops if self.copies == 1 and not full else f"panda-{self.copies}x" + ("" if full else f":{ops}")
        shown = ({"mix": self.mix} if self.online and self.mix != RATIO_1X else {}) | self.method_params | self.params
        if "generator" in shown:  # a recipe reference is long: its digest keeps the name a W&B tag (<= 64 chars)
            shown["generator"] = stable_digest(shown["generator"], 6)
        if shown:
            head += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in shown.items()) + "]"
        return head

    def to_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "copies": self.copies, "ops": list(self.ops), "params": dict(self.params)}
        out |= {"method": self.method, "method_params": dict(self.method_params)} if self.method != "panda" else {}
        return out | ({"online": True, "mix": self.mix} if self.online else {})


@dataclass(frozen=True)
class RunSpec:
    """Everything that names a run, computed once (RunSpec.from_config) from one recipe cell."""

    run_id: str
    recipe: str
    cell: dict[str, Any]  # the grid values that distinguish this run among its recipe's cells
    seed: int
    model: str
    dataset: str
    n_requested: int | None  # data.n (None: all images); run.json's `n` is the count actually prepared
    variant: PandaVariant
    config: dict  # the resolved config as plain JSON (run.json, the W&B config, the run id)
    settings: RecipeConfig  # the same config as the schema's typed objects (what the code reads)

    @classmethod
    def from_config(cls, cell: DictConfig, cell_keys: Sequence[str] = ()) -> "RunSpec":
        """The spec of one expanded cell; every value is checked first (ConfigError naming the key)."""
        settings = typed_recipe(cell)
        mode = settings.data.mode
        variant = PandaVariant.of(mode.stored_copies, settings.panda, mode.mix if mode.online else None,
                                  mode.method, settings.data.augment_params)
        config = to_dict(cell)
        config["panda"]["ops"] = [op for op in OPS if op in config["panda"]["ops"]]  # order-free: one id
        return cls(run_id=run_id(config), recipe=str(settings.name),
                   cell={k: _plain(OmegaConf.select(cell, k)) for k in cell_keys}, seed=settings.seed,
                   model=settings.model.name, dataset=settings.data.dataset, n_requested=settings.data.n,
                   variant=variant, config=config, settings=settings)

    @classmethod
    def from_recipe(cls, recipe: str, overrides: Iterable[str] = ()) -> "RunSpec":
        """The run `panbench train RECIPE key=value ...` means: the first cell of the pinned grid."""
        return run_specs(load_recipe(recipe, list(overrides)))[0]

    def identity(self) -> dict[str, Any]:
        """The identity fields of run.json."""
        return {"run_id": self.run_id, "recipe": self.recipe, "cell": dict(self.cell), "seed": self.seed,
                "model": self.model, "dataset": self.dataset, "n_requested": self.n_requested,
                "variant": self.variant.name, "panda": self.variant.to_dict(), **self.augment_record()}

    def augment_record(self) -> dict[str, Any]:
        """`augment`: a door method's name, parameters and source sha256 (harness/panda/door.py), so a changed
        plugin shows as changed code; absent for plain PanDA (its parameters are `panda`) and no augmentation."""
        mode = self.settings.data.mode
        if not mode.enabled or mode.method == "panda":
            return {}
        from harness.panda.augment import method_of

        return {"augment": method_of(mode.method, door_params(self.settings)).describe()}

    def label(self, n: int | None) -> str:
        """`recipe/model/n=N/variant`: the W&B run name and the sweep's log line."""
        return f"{self.recipe}/{self.model}/n={n}/{self.variant.name}"


def door_params(settings: RecipeConfig) -> dict[str, Any]:
    """The door method's parameters: `data.augment_params`, a composition's `panda` step taking the recipe's
    `panda:` section (one place for the offline set, the online transform and run.json)."""
    params = dict(settings.data.augment_params or {})
    if "panda" in settings.data.mode.steps and len(settings.data.mode.steps) > 1:
        params["panda"] = settings.panda.to_dict()
    return params


def run_specs(cfg: DictConfig, seeds: Iterable[int] | None = None) -> list[RunSpec]:
    """One spec per distinct cell of a loaded recipe; `seeds` repeats every cell with each training seed
    (replacing the grid's own seeds: cells that then coincide are one run)."""
    keys = grid_keys(cfg)
    cells = expand_grid(cfg)
    if seeds is not None:
        cells = [_with_seed(c, seed) for c in cells for seed in seeds]
        keys = keys if "seed" in keys else [*keys, "seed"]
    specs: dict[str, RunSpec] = {}
    for cell in cells:
        spec = RunSpec.from_config(cell, keys)
        specs.setdefault(spec.run_id, spec)
    return list(specs.values())


def _with_seed(cell: DictConfig, seed: int) -> DictConfig:
    cell = cell.copy()
    cell.seed = int(seed)
    return cell


def _plain(value: object) -> object:
    """A grid value as plain JSON (lists, not OmegaConf nodes or tuples)."""
    return json.loads(json.dumps(OmegaConf.to_container(value) if OmegaConf.is_config(value) else value))
