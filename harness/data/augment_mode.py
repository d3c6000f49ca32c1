"""How a run's training set is augmented, parsed once from the recipe's `data.panda` (none | Kx |
online) into one frozen value that the schema, the run-id rules, the data sources and the analysis
read, so no code downstream re-parses the string.

- `none`: the original images only;
- `Kx`: K augmented images per original, generated offline and concatenated (PanDA paper, Sec. 4);
- `online`: a sample replaced by a fresh augmented one inside the data loader with probability
  `mix` (harness/panda/online.py).

`method` names the augmentation (`panda` today; the augmentation door of issue 26 adds others under
the same schedule). run.json keeps the structured form (`harness.config.run_spec.PandaVariant`);
`from_record` reads it back, so tables never parse the config string either."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from harness.errors import ConfigError

NONE, ONLINE = "none", "online"
COPIES = re.compile(r"^([1-9][0-9]*)x$")
RULE = "none or Kx for an integer K >= 1 (1x, 2x, ...), or online"


@dataclass(frozen=True)
class AugmentMode:
    """One augmentation schedule: `copies` offline images per original (None: no set on disk),
    `online` draws in the loader at probability `mix` (None unless online)."""

    method: str = "panda"
    copies: int | None = None
    online: bool = False
    mix: float | None = None

    @classmethod
    def parse(cls, setting: str, *, mix: float | None = None, method: str = "panda",
              key: str = "data.panda") -> "AugmentMode":
        """`none`, `Kx` or `online` (with its `mix`); a ConfigError naming `key` otherwise."""
        if setting == NONE:
            return cls(method)
        if setting == ONLINE:
            return cls(method, online=True, mix=None if mix is None else float(mix))
        match = COPIES.match(setting) if isinstance(setting, str) else None
        if match is None:
            raise ConfigError(f"{key} must be {RULE}, got {setting!r}")
        return cls(method, copies=int(match.group(1)))

    @classmethod
    def from_record(cls, variant: Mapping[str, Any] | None) -> "AugmentMode":
        """The mode of run.json's structured variant (`panda`: copies, online, mix); none when absent."""
        variant = variant if isinstance(variant, Mapping) else {}
        method = variant.get("method") if isinstance(variant.get("method"), str) else "panda"
        if variant.get("online") is True:
            mix = variant.get("mix")
            return cls(method, online=True, mix=float(mix) if isinstance(mix, (int, float)) else None)
        copies = variant.get("copies")
        ok = isinstance(copies, int) and not isinstance(copies, bool) and copies >= 1
        return cls(method, copies=copies) if ok else cls()

    @property
    def steps(self) -> tuple[str, ...]:
        """The methods of a composition `a+b` in order (one for a single method)."""
        return tuple(part.strip() for part in self.method.split("+"))

    @property
    def enabled(self) -> bool:
        """Whether any augmented image reaches training (so the method's parameters matter)."""
        return self.online or self.copies is not None

    @property
    def stored_copies(self) -> int:
        """Augmented images per original written to disk (0 without a generated set)."""
        return self.copies or 0

    @property
    def setting(self) -> str:
        """The recipe's spelling: `none`, `Kx` or `online`."""
        return ONLINE if self.online else f"{self.copies}x" if self.copies else NONE

    @property
    def rank(self) -> float:
        """Order of the copies study's rows: none, 1x, 2x, 4x, ..., online (fresh images every pass)."""
        return float("inf") if self.online else float(self.stored_copies)
