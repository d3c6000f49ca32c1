"""Recipes: OmegaConf YAML files in `recipes/`, one per paper table plus `-mini` CPU variants.

A recipe names its parent with `base:` (a chain is allowed; `base.yaml` is the root and holds every
default). Every key is typed by `harness.config.recipe_schema`: a key the schema does not have is a
typo, reported with the nearest valid keys; a wrong-typed value is reported with the file or override
that set it. Two sub-trees are open (free keys): `model.options` (checked by the model registry) and
`grid`.

`grid: {dotted.key: [values...]}` declares the cells of a sweep (their cartesian product). Rows
that are not a product (PanDA Table 4: "extra iterations" without PanDA, then dropout / resize /
shift ablations with PanDA) are listed under the reserved grid key `cases`: a list of
`{dotted.key: value}` mappings, crossed with the other grid keys. Keys of the open sections may be
varied too (synthesis Table 4: `model.options.panoptic_upsample: false`).

Interpolation: a recipe may refer to its own keys (`${data.root}/val`), resolved before the run id
is taken. Resolvers (`${oc.env:HOME}`, ...) are refused: their values come from the machine, so they
would copy environment values (user names, paths, tokens) into run.json and the W&B config and give
one recipe different run ids on different machines."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import typing
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.config.recipe_schema import (SGD_ALIASES, RecipeCell, RecipeConfig, RecipeFile, check_recipe,
                                          open_sections, run_config_class, schema_keys, sweep_keys)
from harness.errors import ConfigError, nearest
from harness.panda.config import PandaConfig

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"
ROOT_RECIPE = "base"
CASES_KEY = "cases"
SCHEMA_KEYS = schema_keys()
OPEN_SECTIONS = tuple(open_sections())
RESOLVER_CALL = re.compile(r"\$\{\s*[A-Za-z_][\w.\-]*\s*:")  # `${name:` starts a resolver call


def recipe_path(name_or_path: str | Path) -> Path:
    """`panda-table2-mini` -> recipes/panda-table2-mini.yaml; a path to a YAML file is used as is."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    candidate = RECIPES_DIR / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    known = list_recipes()
    near = nearest(str(name_or_path), known, n=3)
    hint = f"; nearest: {', '.join(near)}" if near else f"; known: {', '.join(known)}"
    raise ConfigError(f"{name_or_path}: no such recipe in {RECIPES_DIR}{hint}")


def list_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def canonical_key(key: str) -> str:
    """A key's current spelling: the SGD keys' old `train.` spelling is `optim.` now (SGD_ALIASES)."""
    return SGD_ALIASES.get(key, key)


def _canonical_part(cfg: DictConfig) -> DictConfig:
    """A recipe file's SGD keys written under `train:` (their old home) moved to `optim:`."""
    train = cfg.get("train")
    moved = [k for k in train if f"train.{k}" in SGD_ALIASES] if isinstance(train, DictConfig) else []
    if not moved:
        return cfg
    node = OmegaConf.to_container(cfg, resolve=False)
    optim = node.get("optim") if isinstance(node.get("optim"), dict) else {}
    node["optim"] = {**optim, **{k: node["train"].pop(k) for k in moved}}
    return OmegaConf.create(node)


def _canonical_grid(cfg: DictConfig) -> None:
    """The grid's keys (plain and in `cases`) in their current spelling."""
    grid = cfg.get("grid")
    if not isinstance(grid, DictConfig):
        return
    plain = OmegaConf.to_container(grid, resolve=False)
    cases = plain.pop(CASES_KEY, None)
    out = {canonical_key(k): v for k, v in plain.items()}
    if cases is not None:
        out[CASES_KEY] = [{canonical_key(k): v for k, v in case.items()} if isinstance(case, dict) else case
                          for case in cases] if isinstance(cases, list) else cases
    cfg.grid = out


def _read_yaml(path: Path) -> DictConfig:
    try:
        cfg = OmegaConf.load(path)
    except (OmegaConfBaseException, OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot parse recipe ({' '.join(str(exc).split())})") from None
    if not isinstance(cfg, DictConfig):
        raise ConfigError(f"{path}: a recipe must be a mapping")
    return cfg


def _chain(path: Path, seen: tuple[Path, ...] = ()) -> list[tuple[Path, DictConfig]]:
    """The recipe and its ancestors, root first."""
    if path in seen:
        raise ConfigError(f"{path}: `base:` inheritance loops ({' -> '.join(p.stem for p in seen)})")
    cfg = _read_yaml(path)
    parent = cfg.pop("base", None)
    if parent is None:
        if path.stem != ROOT_RECIPE:
            raise ConfigError(f"{path}: recipe has no `base:` (every recipe inherits from {ROOT_RECIPE})")
        return [(path, cfg)]
    parent_path = recipe_path(parent) if not Path(parent).suffix else (path.parent / parent)
    return _chain(parent_path, seen + (path,)) + [(path, cfg)]


def _is_open(key: str) -> bool:
    return any(key.startswith(s + ".") for s in OPEN_SECTIONS)


def _unknown_key_error(key: str, where: str) -> ConfigError:
    near = nearest(key, [*SCHEMA_KEYS, *SGD_ALIASES])
    return ConfigError(f"{where}: unknown key '{key}'; nearest valid keys: {', '.join(near) or '(none)'}")


def check_keys(cfg: DictConfig, where: str, prefix: str = "") -> None:
    for k, v in cfg.items_ex(resolve=False):
        dotted = f"{prefix}{k}"
        if _is_open(dotted):
            continue
        if dotted not in SCHEMA_KEYS:
            raise _unknown_key_error(dotted, where)
        if isinstance(v, DictConfig) and dotted not in OPEN_SECTIONS:
            check_keys(v, where, dotted + ".")


def _forbid_resolvers(node: Any, where: str, key: str = "") -> None:
    """A recipe value may interpolate other keys, never call a resolver (see the module docstring)."""
    if isinstance(node, Mapping):
        for k, v in node.items():
            _forbid_resolvers(v, where, f"{key}.{k}" if key else str(k))
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            _forbid_resolvers(v, where, f"{key}[{i}]")
    elif isinstance(node, str) and RESOLVER_CALL.search(node):
        raise ConfigError(f"{where}: {key}: {node!r} calls a resolver; recipes may interpolate their own keys "
                          "only (${section.key}), so no environment value enters run.json or the run id")


@contextmanager
def _typed(where: str) -> Iterator[None]:
    """OmegaConf's type errors as one ConfigError naming the file or override and the key."""
    try:
        yield
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None)
        problem = str(getattr(exc, "msg", None) or exc).splitlines()[0]
        raise ConfigError(f"{where}: {key + ': ' if key else ''}{problem}") from None


def _structured(cls: type) -> DictConfig:
    """An empty, writable structured config of `cls` (PandaConfig is frozen; a recipe sets it)."""
    cfg = OmegaConf.structured(cls)
    OmegaConf.set_readonly(cfg.panda, False)
    return cfg


def _apply_overrides(cfg: DictConfig, overrides: Iterable[str]) -> list[str]:
    """Set each `key=value` (the value parsed as YAML, then typed by the schema); return the keys set."""
    keys = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = canonical_key(key.strip())
        if not sep or not key:
            raise ConfigError(f"override '{item}': expected key=value")
        if not _is_open(key) and key not in SCHEMA_KEYS:
            raise _unknown_key_error(key, "override")
        _forbid_resolvers(raw, f"override '{item}'", key)
        with _typed(f"override '{item}'"):
            value = OmegaConf.select(OmegaConf.from_dotlist([f"{key}={raw}"]), key)
            OmegaConf.update(cfg, key, value, merge=False, force_add=_is_open(key))
        keys.append(key)
    return keys


def _pin_grid(cfg: DictConfig, keys: list[str]) -> None:
    """An override of a grid key pins the grid to its value: a plain grid key keeps only that value;
    for `cases`, the cases that agree with it are kept (cases silent on the key take the override),
    and if none agrees the key is removed from every case, so the override holds in all of them.
    So `panbench train panda-table1 model.name=sss-r50 data.panda=1x` picks the SSS case with its
    own schedule, and `train.epochs=1` shortens every cell of a sweep."""
    grid = cfg.get("grid")
    if not grid:
        return
    for key in keys:
        value = OmegaConf.select(cfg, key)
        if key in grid and key != CASES_KEY:
            grid[key] = [value]
        cases = grid.get(CASES_KEY)
        if cases and any(key in case for case in cases):
            agree = [case for case in cases if case.get(key, value) == value]
            if agree:
                grid[CASES_KEY] = agree
            else:
                for case in cases:
                    case.pop(key, None)


def _check_grid(cfg: DictConfig, where: str) -> None:
    grid = cfg.get("grid") or {}
    for key, values in grid.items():
        if key == CASES_KEY:
            for case in values:
                for case_key in case:
                    if case_key not in SCHEMA_KEYS and not _is_open(case_key):
                        raise _unknown_key_error(case_key, f"{where} grid.cases")
            continue
        if key not in SCHEMA_KEYS and not _is_open(key):
            raise _unknown_key_error(key, f"{where} grid")
        if not isinstance(values, ListConfig) or len(values) == 0:
            raise ConfigError(f"{where}: grid key '{key}' must list at least one value")


def load_recipe(name_or_path: str | Path, overrides: Iterable[str] = ()) -> DictConfig:
    """Resolve a recipe: schema <- root defaults <- ancestors <- recipe <- `key=value` overrides.

    Keys are checked against the schema so a typo is an error, never a silent default; values are
    typed by it; every key of the schema must have a value once the root recipe is merged."""
    path = recipe_path(name_or_path)
    merged = _structured(RecipeFile)
    for part_path, part in _chain(path):
        part = _canonical_part(part)
        check_keys(part, str(part_path))
        _forbid_resolvers(OmegaConf.to_container(part, resolve=False), str(part_path))
        with _typed(str(part_path)):
            merged = OmegaConf.merge(merged, part)
    missing = sorted(OmegaConf.missing_keys(merged))
    if missing:
        raise ConfigError(f"{RECIPES_DIR / (ROOT_RECIPE + '.yaml')}: no value for {', '.join(missing)} "
                          "(the root recipe holds every default)")
    if merged.name is None:
        merged.name = path.stem
    _canonical_grid(merged)
    _check_grid(merged, str(path))
    _pin_grid(merged, _apply_overrides(merged, list(overrides)))
    with _typed(str(path)):
        OmegaConf.resolve(merged)
    return merged


def grid_keys(cfg: DictConfig) -> list[str]:
    """The keys a recipe's grid varies (plain grid keys, then the keys its cases set)."""
    grid = OmegaConf.to_container(cfg.get("grid") or OmegaConf.create({}), resolve=True)
    keys = [k for k in grid if k != CASES_KEY]
    for case in grid.get(CASES_KEY) or []:
        keys += [k for k in case if k not in keys]
    return keys


def grid_cells(grid: dict) -> list[dict[str, Any]]:
    """The cells of a grid as `{dotted.key: value}` mappings, in declaration order."""
    grid = dict(grid or {})
    cases = grid.pop(CASES_KEY, None) or [{}]
    keys = list(grid)
    cells = []
    for case in cases:
        for values in itertools.product(*(grid[k] for k in keys)):
            cells.append({**dict(case), **dict(zip(keys, values))})
    return cells


def expand_grid(cfg: DictConfig) -> list[DictConfig]:
    """One resolved config per distinct grid cell, typed by its model's family (SgdRecipe or
    GanRecipe: only the sections that apply to it; no `grid`)."""
    grid = OmegaConf.to_container(cfg.get("grid") or OmegaConf.create({}), resolve=True)
    with _typed(f"recipe {cfg.name}"):
        base = OmegaConf.merge(_structured(RecipeCell),
                               OmegaConf.masked_copy(cfg, [k for k in cfg if k not in sweep_keys()]))
    out, seen = [], set()
    for cell in grid_cells(grid):
        c = base.copy()
        for key, value in cell.items():
            with _typed(f"recipe {cfg.name} grid {key}={value!r}"):
                OmegaConf.update(c, key, value, merge=False, force_add=_is_open(key))
        c = _of_family(c)
        canonical = json.dumps(to_dict(c), sort_keys=True)
        if canonical not in seen:
            seen.add(canonical)
            out.append(c)
    return out


def _of_family(cell: DictConfig) -> DictConfig:
    """`cell` as the typed config of its model's family (recipe_schema.run_config_class)."""
    cls = run_config_class(str(cell.model.name))
    with _typed(f"recipe {cell.name}"):
        return OmegaConf.merge(_structured(cls), _prune(OmegaConf.to_container(cell, resolve=True), cls))


def _prune(node: dict, cls: type) -> dict:
    """The keys of `node` that the dataclass `cls` has, section by section (open sections whole)."""
    hints = typing.get_type_hints(cls)
    return {f.name: _prune(node[f.name], hints[f.name])
            if dataclasses.is_dataclass(hints[f.name]) and isinstance(node[f.name], dict) else node[f.name]
            for f in dataclasses.fields(cls) if f.name in node}


def select_cell(cfg: DictConfig) -> DictConfig:
    """The cell `panbench train RECIPE key=value` runs: the first cell of the (override-pinned) grid,
    so grid keys that were not overridden take their first value."""
    return expand_grid(cfg)[0]


def to_dict(cfg: DictConfig) -> dict:
    """Plain JSON containers (lists, not tuples), as run.json and W&B store them."""
    return json.loads(json.dumps(OmegaConf.to_container(cfg, resolve=True)))


def panda_config(section: Mapping[str, Any]) -> PandaConfig:
    """A recipe's `panda:` section as PanDA's config: the one place a recipe becomes a PandaConfig."""
    return PandaConfig.from_config(section, prefix="panda.")


def typed_recipe(cell: DictConfig) -> RecipeConfig:
    """One cell as the schema's objects, every enumeration and range checked (ConfigError otherwise)."""
    panda = panda_config(OmegaConf.to_container(cell.panda, resolve=True))
    with _typed(f"recipe {cell.name}"):
        recipe = OmegaConf.to_object(cell)
    if not isinstance(recipe, RecipeConfig):
        raise ConfigError(f"recipe {cell.name}: not one cell of a recipe (expand its grid first)")
    recipe.panda = panda
    check_recipe(recipe)
    return recipe
