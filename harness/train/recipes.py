"""Recipes: OmegaConf YAML files in `recipes/`, one per paper table plus `-mini` CPU variants.

A recipe names its parent with `base:` (a chain is allowed; `base.yaml` is the root). The root
defines every valid key with its default, so a recipe or a `key=value` override that names a key
the root does not have is a typo, reported as a ConfigError with the nearest valid keys.
Two sub-trees are open (free keys): `model.options` (passed to the model constructor) and `grid`.

`grid: {dotted.key: [values...]}` declares the cells of a sweep (their cartesian product). Rows
that are not a product (PanDA Table 4: "extra iterations" without PanDA, then dropout / resize /
shift ablations with PanDA) are listed under the reserved grid key `cases`: a list of
`{dotted.key: value}` mappings, crossed with the other grid keys."""

from __future__ import annotations

import difflib
import itertools
import json
from pathlib import Path
from typing import Any, Iterable

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.errors import ConfigError

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"
ROOT_RECIPE = "base"
OPEN_SECTIONS = ("model.options", "grid")
CASES_KEY = "cases"


def recipe_path(name_or_path: str | Path) -> Path:
    """`panda-table2-mini` -> recipes/panda-table2-mini.yaml; a path to a YAML file is used as is."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    candidate = RECIPES_DIR / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    known = list_recipes()
    near = difflib.get_close_matches(str(name_or_path), known, n=3, cutoff=0.4)
    hint = f"; nearest: {', '.join(near)}" if near else f"; known: {', '.join(known)}"
    raise ConfigError(f"{name_or_path}: no such recipe in {RECIPES_DIR}{hint}")


def list_recipes() -> list[str]:
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


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
    return any(key == s or key.startswith(s + ".") for s in OPEN_SECTIONS)


def valid_keys(schema: DictConfig, prefix: str = "") -> list[str]:
    """Every dotted key of `schema` (sections and leaves)."""
    keys = []
    for k, v in schema.items_ex(resolve=False):
        dotted = f"{prefix}{k}"
        keys.append(dotted)
        if isinstance(v, DictConfig) and not _is_open(dotted):
            keys.extend(valid_keys(v, dotted + "."))
    return keys


def _unknown_key_error(key: str, schema_keys: list[str], where: str) -> ConfigError:
    near = difflib.get_close_matches(key, schema_keys, n=4, cutoff=0.5)
    if not near:  # a typo in the last part only: compare with the keys of the same section
        section = key.rpartition(".")[0]
        siblings = [k for k in schema_keys if k.rpartition(".")[0] == section]
        near = difflib.get_close_matches(key, siblings, n=4, cutoff=0.0)
    return ConfigError(f"{where}: unknown key '{key}'; nearest valid keys: {', '.join(near) or '(none)'}")


def check_keys(cfg: DictConfig, schema_keys: list[str], where: str, prefix: str = "") -> None:
    for k, v in cfg.items_ex(resolve=False):
        dotted = f"{prefix}{k}"
        if _is_open(dotted):
            continue
        if dotted not in schema_keys:
            raise _unknown_key_error(dotted, schema_keys, where)
        if isinstance(v, DictConfig):
            check_keys(v, schema_keys, where, dotted + ".")


def _apply_overrides(cfg: DictConfig, overrides: Iterable[str], schema_keys: list[str]) -> list[str]:
    """Set each `key=value`; return the keys set."""
    keys = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override '{item}': expected key=value")
        if not _is_open(key) and key not in schema_keys:
            raise _unknown_key_error(key, schema_keys, "override")
        try:
            value = OmegaConf.from_dotlist([f"{key}={raw}"])
            OmegaConf.update(cfg, key, OmegaConf.select(value, key), merge=False, force_add=_is_open(key))
        except OmegaConfBaseException as exc:
            raise ConfigError(f"override '{item}': {exc}") from None
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


def _check_grid(cfg: DictConfig, schema_keys: list[str], where: str) -> None:
    grid = cfg.get("grid") or {}
    for key, values in grid.items():
        if key == CASES_KEY:
            for case in values:
                for case_key in case:
                    if case_key not in schema_keys:
                        raise _unknown_key_error(case_key, schema_keys, f"{where} grid.cases")
            continue
        if key not in schema_keys:
            raise _unknown_key_error(key, schema_keys, f"{where} grid")
        if not isinstance(values, ListConfig) or len(values) == 0:
            raise ConfigError(f"{where}: grid key '{key}' must list at least one value")


def load_recipe(name_or_path: str | Path, overrides: Iterable[str] = ()) -> DictConfig:
    """Resolve a recipe: root defaults <- ancestors <- recipe <- `key=value` overrides.

    Keys are checked against the root recipe so a typo is an error, never a silent default."""
    path = recipe_path(name_or_path)
    chain = _chain(path)
    schema = chain[0][1]
    schema_keys = valid_keys(schema)
    merged = schema
    for part_path, part in chain[1:]:
        check_keys(part, schema_keys, str(part_path))
        merged = OmegaConf.merge(merged, part)
    if "name" not in chain[-1][1] or chain[-1][1].get("name") is None:
        merged.name = path.stem
    _check_grid(merged, schema_keys, str(path))
    _pin_grid(merged, _apply_overrides(merged, list(overrides), schema_keys))
    OmegaConf.resolve(merged)
    return merged


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
    """One resolved config per distinct grid cell: the cell's values set, the `grid` key removed."""
    grid = OmegaConf.to_container(cfg.get("grid") or OmegaConf.create({}), resolve=True)
    base = OmegaConf.masked_copy(cfg, [k for k in cfg.keys() if k != "grid"])
    out, seen = [], set()
    for cell in grid_cells(grid):
        c = base.copy()
        for key, value in cell.items():
            OmegaConf.update(c, key, value, merge=False)
        canonical = json.dumps(OmegaConf.to_container(c, resolve=True), sort_keys=True)
        if canonical not in seen:
            seen.add(canonical)
            out.append(c)
    return out


def select_cell(cfg: DictConfig) -> DictConfig:
    """The cell `panbench train RECIPE key=value` runs: the first cell of the (override-pinned) grid,
    so grid keys that were not overridden take their first value."""
    return expand_grid(cfg)[0]


def to_dict(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)
