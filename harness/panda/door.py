"""One door for every augmentation method (issue 26): `panda`, `copy-paste`, an importable callable
`package.module:function`, or a name an installed package registers under the entry-point group
`panbench.augmentations`; `a+b` composes methods left to right (`copy-paste+panda`: Copy-Paste, then
PanDA on its output).

The plugin contract:

    fn(image, panoptic, segments, *, rng, **params) -> (image, panoptic, segments)

`image` (H, W, 3) uint8, `panoptic` (H, W) integer segment ids (0 = void), `segments` a list of
dicts with at least `id`, `category_id`, `iscrowd`; `rng` a numpy Generator panbench derives from
(data seed, source image, copy or pass). A callable that declares `pool` also receives `pool(rng) ->
(image, panoptic, segments)`, a draw of another training sample; one that declares `categories`
receives `{category_id: {"name", "isthing", ...}}`. The output may change the size. panbench
recomputes `area` and `bbox`, refuses an invalid output in one line naming the method and the source
image, and records the method's name, parameters and the sha256 of its source file (`describe`)."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from harness.data.panoptic_format import segment_stats
from harness.errors import ConfigError, PanbenchError

ENTRY_POINT_GROUP = "panbench.augmentations"
BUILT_IN = {"panda": "harness.panda.door:panda", "copy-paste": "harness.panda.copy_paste:copy_paste"}
COMPOSE = "+"
STEP_STREAM = 16  # rng streams of a composition's steps (16, 17, ...): after PanDA's own (0..3)

Triple = tuple[np.ndarray, np.ndarray, list[dict]]
Pool = Callable[[np.random.Generator], Triple]


class AugmentError(PanbenchError):
    """A plugin returned something that is not a valid panoptic sample."""


def panda(image: np.ndarray, panoptic: np.ndarray, segments: list[dict], *, rng: np.random.Generator,
          **params: Any) -> Triple:
    """PanDA (harness/panda) as a door plugin, for compositions; `panda` alone runs the generator and the
    online transform of harness/panda directly (same bytes, same run ids as before the door)."""
    from harness.panda.compose import panda_image
    from harness.panda.config import PandaConfig
    from harness.panda.decompose import decompose

    config = PandaConfig.from_config(params, prefix="panda.")
    sample = panda_image(rng, decompose(image, panoptic, segments, "<composed sample>"), panoptic.shape[:2], config)
    return sample.image, sample.ids, sample.segments_info


@dataclass(frozen=True)
class Step:
    """One method of a composition: its name, callable, parameters and source file's sha256."""

    name: str
    fn: Callable[..., Triple] = field(repr=False, compare=False)
    params: Mapping[str, Any]
    sha256: str

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "parameters": dict(self.params), "sha256": self.sha256}


@dataclass(frozen=True)
class Method:
    """What `data.augment` / `--method` names, resolved: one or more steps applied in order."""

    name: str
    steps: tuple[Step, ...]

    @property
    def is_panda(self) -> bool:
        """Plain PanDA: generated and drawn by harness/panda's own code, not through the door."""
        return self.name == "panda"

    @property
    def slug(self) -> str:
        """The method in generated file names (`a_copy-paste0.png`)."""
        return re.sub(r"[^A-Za-z0-9-]+", "-", self.name).strip("-") or "augment"

    def describe(self) -> dict[str, Any]:
        """Name, parameters and sha256 of the source: for the manifest and run.json."""
        if len(self.steps) == 1:
            return self.steps[0].describe()
        return {"name": self.name, "steps": [s.describe() for s in self.steps]}

    def __call__(self, image: np.ndarray, panoptic: np.ndarray, segments: list[dict], *,
                 rng_of: Callable[[int], np.random.Generator], pool: Pool, categories: Mapping[int, dict],
                 where: str) -> Triple:
        """Every step in order, step j drawing from `rng_of(j)`; each output checked (`where` names the
        source image in errors)."""
        for j, step in enumerate(self.steps):
            extra = {}
            accepted = inspect.signature(step.fn).parameters
            if "pool" in accepted:
                extra["pool"] = pool
            if "categories" in accepted:
                extra["categories"] = categories
            out = step.fn(image, panoptic, segments, rng=rng_of(j), **extra, **step.params)
            image, panoptic, segments = checked_output(out, categories, f"method '{step.name}' on {where}")
        return image, panoptic, segments


def resolve(name: str, params: Mapping[str, Any] | None = None) -> Method:
    """The method `name` (see the module docstring) with `params` ({key: value} for a single method,
    {step name: {key: value}} for a composition); a ConfigError in one line for a name that does not
    resolve or a parameter the callable does not take."""
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"data.augment must name a method (panda, copy-paste or package.module:function), "
                          f"got {name!r}")
    names = [part.strip() for part in name.split(COMPOSE)]
    params = dict(params or {})
    if len(names) > 1:
        unknown = sorted(set(params) - set(names))
        if unknown:
            raise ConfigError(f"augment parameters for {unknown} name no step of '{name}' (give each step's "
                              f"parameters under its name)")
        per_step = [dict(params.get(n) or {}) for n in names]
    else:
        per_step = [params]
    steps = tuple(_step(n, p) for n, p in zip(names, per_step))
    return Method(COMPOSE.join(names), steps)


def _step(name: str, params: Mapping[str, Any]) -> Step:
    fn = load_callable(name)
    accepted = inspect.signature(fn).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    reserved = {"rng", "pool", "categories"}
    for key in params:
        if key in reserved or (key not in accepted and not takes_any):
            options = sorted(k for k, p in accepted.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
                             and k not in reserved)
            raise ConfigError(f"augmentation '{name}' takes no parameter '{key}' (it takes: "
                              f"{', '.join(options) or 'none'})")
    if name == "panda":
        from harness.panda.config import PandaConfig

        params = PandaConfig.from_config(params, prefix="panda.").to_dict()
    else:  # the defaults recorded too: a changed default shows in the manifest and run.json
        params = {**{k: _plain(p.default) for k, p in accepted.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
                     and k not in reserved and p.default is not inspect.Parameter.empty}, **params}
    return Step(name, fn, dict(params), source_sha256(fn))


def _plain(value: Any) -> Any:
    """A default as JSON would read it back (tuples as lists), so recorded and given values compare."""
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def load_callable(name: str) -> Callable[..., Triple]:
    """A built-in, an entry point of `panbench.augmentations`, or `package.module:function`."""
    target = BUILT_IN.get(name)
    if target is None:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
        if found:
            try:
                return found[0].load()
            except Exception as exc:  # a broken plugin package: one line, not its traceback
                raise ConfigError(f"augmentation '{name}' (entry point {found[0].value}): cannot load: "
                                  f"{type(exc).__name__}: {exc}") from None
        target = name
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"unknown augmentation '{name}': use panda, copy-paste, a name registered under the "
                          f"entry-point group {ENTRY_POINT_GROUP}, or package.module:function")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError or an error raised while importing: one line
        raise ConfigError(f"augmentation '{name}': cannot import {module_name}: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(f"augmentation '{name}': module {module_name} has no callable '{attr}'")
    return fn


def source_sha256(fn: Callable[..., Any]) -> str | None:
    """sha256 of the file that defines `fn` (a changed plugin shows as changed code); None without one."""
    try:
        path = inspect.getsourcefile(inspect.unwrap(fn))
    except TypeError:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path and Path(path).is_file() else None


def checked_output(out: Any, categories: Mapping[int, dict], where: str) -> Triple:
    """The plugin's (image, panoptic, segments) with area and bbox recomputed; AugmentError naming
    `where` for anything the dataset rules (harness/data/validate.py) would refuse."""
    if not (isinstance(out, tuple) and len(out) == 3):
        raise AugmentError(f"{where}: must return (image, panoptic, segments), got {type(out).__name__}")
    image, panoptic, segments = out
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3):
        raise AugmentError(f"{where}: image must be an H x W x 3 uint8 array, got "
                           f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}")
    if not (isinstance(panoptic, np.ndarray) and panoptic.dtype.kind in "iu" and panoptic.shape == image.shape[:2]):
        raise AugmentError(f"{where}: panoptic map must be an integer array of the image's size "
                           f"{image.shape[:2]}, got {getattr(panoptic, 'dtype', type(panoptic).__name__)} "
                           f"{getattr(panoptic, 'shape', '')}")
    if panoptic.size and (int(panoptic.min()) < 0 or int(panoptic.max()) >= 2**24):
        raise AugmentError(f"{where}: panoptic ids must lie in 0..2^24-1")
    if not isinstance(segments, (list, tuple)) or not all(isinstance(s, Mapping) for s in segments):
        raise AugmentError(f"{where}: segments must be a list of dicts")
    stats = segment_stats(panoptic)
    listed: set[int] = set()
    out_segments = []
    for seg in segments:
        missing = [k for k in ("id", "category_id") if k not in seg]
        if missing:
            raise AugmentError(f"{where}: a segment has no {', '.join(missing)}: {dict(seg)!r}")
        sid = seg["id"]
        if not isinstance(sid, (int, np.integer)) or isinstance(sid, bool) or sid in listed:
            raise AugmentError(f"{where}: segment id {sid!r} is not an integer or is listed twice")
        if seg["category_id"] not in categories:
            raise AugmentError(f"{where}: segment {sid} has category_id {seg['category_id']!r}, which is not in "
                               "categories")
        if int(sid) not in stats:
            raise AugmentError(f"{where}: segment {sid} is in segments but not in the panoptic map")
        listed.add(int(sid))
        area, bbox = stats[int(sid)]
        out_segments.append({**seg, "id": int(sid), "iscrowd": int(seg.get("iscrowd", 0)), "area": area,
                             "bbox": bbox})
    unlisted = sorted(set(stats) - listed)
    if unlisted:
        raise AugmentError(f"{where}: the panoptic map holds segment(s) {unlisted[:5]} that are not in segments")
    return np.ascontiguousarray(image), panoptic.astype(np.uint32, copy=False), out_segments


def category_table(categories: Sequence[Mapping[str, Any]]) -> dict[int, dict]:
    """The dataset's categories as the plugins' `categories` argument: {id: entry}."""
    return {c["id"]: dict(c) for c in categories}
