"""PanDA's parameters in one frozen, typed config (paper section 4.3: "we froze PanDA's parameters
and used it throughout the rest of the paper"). The defaults are those frozen values. Every field
can be set from a mapping (`PandaConfig.from_config`, a recipe's `panda:` block) or from
`key=value` strings (`with_overrides`, CLI `--set`), both through one checked path; `ops` switches
single operations off for the Table 4 ablation, and `scale_distribution: normal` draws the resize
factor from a truncated normal, as the paper's Discussion suggests trying. `canvas` picks what fills
the image (issue 25, harness/panda/canvas.py): the paper's white noise, or a synthesis `generator`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError, nearest

OPS = ("dropout", "resize", "shift")
INTERPOLATIONS = ("bilinear", "area")
IMAGE_FORMATS = ("png", "jpg")
SCALE_DISTRIBUTIONS = ("uniform", "normal")
NORMAL_ONLY = ("scale_mean", "scale_std")  # parameters of the normal distribution only
CANVASES = ("noise", "generator", "rendered")
CANVAS_ONLY = ("canvas", "generator")  # left out of the record of the paper's noise canvas
OPTIONAL_TEXT = ("generator",)  # string fields that may be null


@dataclass(frozen=True)
class PandaConfig:
    # Which operations run (Table 4 rows: dropout / dropout+resize / dropout+shift / all three).
    ops: tuple[str, ...] = OPS
    # Dropout by area fraction a = area / (H·W): p = 0 below the min, 1 above the max, linear between.
    dropout_min_area: float = 0.10
    dropout_max_area: float = 0.50
    # Resize by s in [scale_min, scale_max], aspect ratio kept: s ~ U(scale_min, scale_max) (the
    # paper), or a normal N(scale_mean, scale_std²) truncated to that range.
    scale_min: float = 0.5
    scale_max: float = 1.5
    scale_distribution: str = "uniform"
    scale_mean: float = 1.0
    scale_std: float = 0.25
    # With resize on, shift is the zoom about the image centre (c -> C + s·(c - C)). With resize off
    # (or zoom decoupled) shift is a uniform translation by up to shift_range·(W, H) in each axis.
    couple_shift_with_resize: bool = True
    shift_range: float = 0.25
    # Image resampling of a segment crop (the label is always resampled nearest).
    image_interpolation: str = "bilinear"
    # Hybrid images (paper section 5): segments pooled from `hybrid_sources` images.
    hybrid: bool = False
    hybrid_sources: int = 3
    image_format: str = "png"
    # What fills the image: `noise` (the paper), `generator` (uncovered pixels rendered by a synthesis
    # generator from the composed label map), `rendered` (the whole image is the generator's rendering).
    # `generator`: a run id, a recipe reference or a checkpoint file of a synthesis run.
    canvas: str = "noise"
    generator: str | None = None

    def __post_init__(self) -> None:
        ops = tuple(self.ops)
        object.__setattr__(self, "ops", ops)
        unknown = [op for op in ops if op not in OPS]
        if unknown:
            raise ConfigError(f"unknown PanDA op(s) {unknown}; choose from {list(OPS)}")
        if not 0.0 <= self.dropout_min_area < self.dropout_max_area <= 1.0:
            raise ConfigError("need 0 <= dropout_min_area < dropout_max_area <= 1, got "
                              f"{self.dropout_min_area}, {self.dropout_max_area}")
        if not 0.0 < self.scale_min <= self.scale_max:
            raise ConfigError(f"need 0 < scale_min <= scale_max, got {self.scale_min}, {self.scale_max}")
        if self.scale_distribution not in SCALE_DISTRIBUTIONS:
            raise ConfigError(f"scale_distribution must be one of {list(SCALE_DISTRIBUTIONS)}, "
                              f"got {self.scale_distribution!r}")
        if self.scale_distribution == "normal" and not (self.scale_std > 0.0
                                                        and self.scale_min <= self.scale_mean <= self.scale_max):
            raise ConfigError(f"a normal scale_distribution needs scale_std > 0 and scale_min <= scale_mean <= "
                              f"scale_max, got scale_mean {self.scale_mean}, scale_std {self.scale_std} in "
                              f"[{self.scale_min}, {self.scale_max}]")
        if not 0.0 <= self.shift_range <= 1.0:
            raise ConfigError(f"shift_range must lie in [0, 1], got {self.shift_range}")
        if self.image_interpolation not in INTERPOLATIONS:
            raise ConfigError(f"image_interpolation must be one of {list(INTERPOLATIONS)}, "
                              f"got {self.image_interpolation!r}")
        if self.image_format not in IMAGE_FORMATS:
            raise ConfigError(f"image_format must be one of {list(IMAGE_FORMATS)}, got {self.image_format!r}")
        if self.canvas not in CANVASES:
            raise ConfigError(f"canvas must be one of {list(CANVASES)}, got {self.canvas!r}")
        if self.canvas != "noise" and not self.generator:
            raise ConfigError(f"canvas={self.canvas} needs a generator: set panda.generator to a synthesis run id, "
                              f"a recipe reference (e.g. 'synth-table1-small model.name=panoptic-spade-mini') or a "
                              f"checkpoint file")
        if self.hybrid_sources < 1:
            raise ConfigError(f"hybrid_sources must be >= 1, got {self.hybrid_sources}")

    def enabled(self, op: str) -> bool:
        return op in self.ops

    @property
    def zoom(self) -> bool:
        """Resize and shift coupled into one zoom about the image centre (the paper's default)."""
        return self.enabled("resize") and self.enabled("shift") and self.couple_shift_with_resize

    def to_dict(self) -> dict[str, Any]:
        """Every parameter that shapes the output. With the paper's uniform scales the normal
        distribution's keys (and the distribution's name) are left out, so the manifest and the
        cache key of the paper's configuration read as they always have; so are the canvas keys with
        the paper's noise canvas."""
        out = {**dataclasses.asdict(self), "ops": list(self.ops)}
        if self.scale_distribution == "uniform":
            for name in ("scale_distribution", *NORMAL_ONLY):
                del out[name]
        if self.canvas == "noise":
            for name in CANVAS_ONLY:
                del out[name]
        return out

    @classmethod
    def from_config(cls, mapping: Mapping[str, Any], *, base: "PandaConfig | None" = None, prefix: str = "",
                    from_text: bool = False) -> "PandaConfig":
        """A config with the keys of `mapping` (e.g. a recipe's `panda:` block) set on `base` (default:
        the paper's). An unknown key is a ConfigError naming it (as `prefix + key`) and the nearest
        valid keys; a value of the wrong type is one naming the key and the type it needs.
        `from_text` reads string values (`--set key=value`) into the field's type first."""
        base = base or cls()
        defaults = {f.name: getattr(base, f.name) for f in dataclasses.fields(cls)}
        if not isinstance(mapping, Mapping):
            where = prefix.rstrip(".") or "PanDA parameters"
            raise ConfigError(f"{where}: must be a mapping of key: value, got {mapping!r}")
        changes: dict[str, Any] = {}
        for key, value in mapping.items():
            key = str(key)
            if key not in defaults:
                near = nearest(key, defaults)
                raise ConfigError(f"unknown PanDA parameter '{prefix}{key}'; nearest valid keys: "
                                  f"{', '.join(prefix + k for k in near) or ', '.join(prefix + k for k in defaults)}")
            changes[key] = (_from_text if from_text else _typed)(prefix + key, value, defaults[key])
        try:
            return dataclasses.replace(base, **changes)
        except ConfigError as exc:  # a value check of __post_init__: name the section it came from
            raise ConfigError(f"{prefix.rstrip('.')}: {exc}" if prefix else str(exc)) from None

    def with_overrides(self, items: Iterable[str] = ()) -> "PandaConfig":
        """New config with `key=value` strings applied (`--set`), each value read as the field's type."""
        raw: dict[str, str] = {}
        for item in items:
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"override {item!r} is not key=value")
            raw[key.strip()] = value.strip()
        return PandaConfig.from_config(raw, base=self, from_text=True)


def _typed(key: str, value: Any, current: Any) -> Any:
    """`value` checked against the type of the field's current value (ints are floats too)."""
    if isinstance(current, tuple):
        if isinstance(value, str):
            return parse_ops(value)
        if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
            return tuple(value)
        expected = "a list of op names (or 'none')"
    elif isinstance(current, bool):
        if isinstance(value, bool):
            return value
        expected = "true or false"
    elif isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        expected = "an integer"
    elif isinstance(current, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        expected = "a number"
    else:
        if isinstance(value, str) or (value is None and key.rsplit(".", 1)[-1] in OPTIONAL_TEXT):
            return value
        expected = "a string"
    raise ConfigError(f"PanDA parameter '{key}' must be {expected}, got {value!r}")


def _from_text(key: str, raw: Any, current: Any) -> Any:
    """A `--set` string read as the field's type, then checked like any value."""
    try:
        if isinstance(current, bool):
            if str(raw).lower() in ("1", "true", "yes", "on"):
                value: Any = True
            elif str(raw).lower() in ("0", "false", "no", "off"):
                value = False
            else:
                raise ValueError(raw)
        elif isinstance(current, tuple):
            value = parse_ops(str(raw))
        elif key.rsplit(".", 1)[-1] in OPTIONAL_TEXT:
            value = None if str(raw).strip().lower() in ("", "none", "null") else str(raw)
        else:
            value = type(current)(raw)
    except ValueError:
        raise ConfigError(f"PanDA parameter '{key}': cannot read {raw!r} as {type(current).__name__}") from None
    return _typed(key, value, current)


def parse_ops(raw: str) -> tuple[str, ...]:
    """'dropout,resize' -> ('dropout', 'resize'); 'none' or '' -> () (no op: noise canvas + segments as is)."""
    if raw.strip().lower() in ("", "none"):
        return ()
    return tuple(op.strip() for op in raw.split(",") if op.strip())
