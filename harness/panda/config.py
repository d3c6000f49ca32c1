"""PanDA's parameters in one frozen, typed config (paper section 4.3: "we froze PanDA's parameters
and used it throughout the rest of the paper"). The defaults are those frozen values; every field can
be overridden (`with_overrides(["scale_max=2.0"])`, CLI `--set`), and `ops` switches single operations
off for the Table 4 ablation."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, Iterable

from harness.errors import ConfigError

OPS = ("dropout", "resize", "shift")
INTERPOLATIONS = ("bilinear", "area")
IMAGE_FORMATS = ("png", "jpg")


@dataclass(frozen=True)
class PandaConfig:
    # Which operations run (Table 4 rows: dropout / dropout+resize / dropout+shift / all three).
    ops: tuple[str, ...] = OPS
    # Dropout by area fraction a = area / (H·W): p = 0 below the min, 1 above the max, linear between.
    dropout_min_area: float = 0.10
    dropout_max_area: float = 0.50
    # Resize by s ~ U(scale_min, scale_max), aspect ratio kept.
    scale_min: float = 0.5
    scale_max: float = 1.5
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
        if not 0.0 <= self.shift_range <= 1.0:
            raise ConfigError(f"shift_range must lie in [0, 1], got {self.shift_range}")
        if self.image_interpolation not in INTERPOLATIONS:
            raise ConfigError(f"image_interpolation must be one of {list(INTERPOLATIONS)}, "
                              f"got {self.image_interpolation!r}")
        if self.image_format not in IMAGE_FORMATS:
            raise ConfigError(f"image_format must be one of {list(IMAGE_FORMATS)}, got {self.image_format!r}")
        if self.hybrid_sources < 1:
            raise ConfigError(f"hybrid_sources must be >= 1, got {self.hybrid_sources}")

    def enabled(self, op: str) -> bool:
        return op in self.ops

    @property
    def zoom(self) -> bool:
        """Resize and shift coupled into one zoom about the image centre (the paper's default)."""
        return self.enabled("resize") and self.enabled("shift") and self.couple_shift_with_resize

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "ops": list(self.ops)}

    def with_overrides(self, items: Iterable[str] = ()) -> "PandaConfig":
        """New config with `key=value` strings applied, each value parsed to the field's type."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        for item in items:
            key, sep, raw = item.partition("=")
            key = key.strip()
            if not sep:
                raise ConfigError(f"override {item!r} is not key=value")
            if key not in fields:
                near = difflib.get_close_matches(key, fields, n=3, cutoff=0.4)
                raise ConfigError(f"unknown PanDA parameter {key!r}; nearest: {near or sorted(fields)}")
            changes[key] = _parse(key, raw.strip(), getattr(self, key))
        return dataclasses.replace(self, **changes)


def _parse(key: str, raw: str, current: Any) -> Any:
    try:
        if isinstance(current, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(current, tuple):
            return parse_ops(raw)
        return type(current)(raw)
    except ValueError:
        raise ConfigError(f"PanDA parameter {key!r}: cannot read {raw!r} as {type(current).__name__}") from None


def parse_ops(raw: str) -> tuple[str, ...]:
    """'dropout,resize' -> ('dropout', 'resize'); 'none' or '' -> () (no op: noise canvas + segments as is)."""
    if raw.strip().lower() in ("", "none"):
        return ()
    return tuple(op.strip() for op in raw.split(",") if op.strip())
