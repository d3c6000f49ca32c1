"""The PanDA training protocol (Sec. 4.1): the original models' hyper-parameters, with only

1. the number of iterations scaled so the number of EPOCHS stays constant across training-set
   sizes (10 ... 3,000 Cityscapes images, PanDA 1x / 2x included):

       iterations = ceil(epochs * n_train / total_batch),   total_batch = world_size * ims_per_gpu

2. the learning rate scaled linearly with the total batch (Goyal et al. 2017), relative to the
   batch the reference recipe was tuned for:

       lr = base_lr * total_batch / base_batch

   e.g. UPSNet-50 on Cityscapes: base_lr 0.02 at base_batch 16 -> 0.01 on 8 GPUs x 1 image
   (the paper's 8x 2080Ti), 0.00125 on 1 CPU process x 2 images.

Warmup (linear, from `warmup_factor * lr`) and the step points are fractions of the run, so they
move with the iteration count; UPSNet's Cityscapes schedule (48k iterations at batch 4, warmup 1.5k,
x0.1 at 36k) is `warmup: 0.03125, steps: [0.75]`. `poly` decays as (1 - t/T)^power instead."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


def total_iterations(epochs: float, n_train: float, total_batch: int) -> int:
    """Iterations that visit each of `n_train` images `epochs` times (at least one iteration); online
    PanDA counts n / (1 - mix) samples per epoch (harness/panda/online.py), not always an integer."""
    if n_train <= 0 or total_batch <= 0:
        raise ValueError(f"n_train ({n_train}) and total_batch ({total_batch}) must be positive")
    return max(1, math.ceil(epochs * n_train / total_batch - 1e-9))  # 48000.000000001 is 48000


def scaled_lr(base_lr: float, total_batch: int, base_batch: int) -> float:
    """Linear scaling rule: the learning rate per image stays constant."""
    return base_lr * total_batch / base_batch


@dataclass(frozen=True)
class LrSchedule:
    """Multiplicative factor on the scaled lr at iteration `it` (for `LambdaLR`)."""

    total: int
    warmup: float
    warmup_factor: float
    kind: str
    steps: Sequence[float]
    gamma: float
    power: float

    def __post_init__(self) -> None:
        if self.kind not in ("step", "poly"):
            raise ValueError(f"schedule kind must be 'step' or 'poly', not {self.kind!r}")

    @property
    def warmup_iters(self) -> int:
        return int(round(self.warmup * self.total))

    def __call__(self, it: int) -> float:
        if self.kind == "step":
            factor = self.gamma ** sum(it >= round(s * self.total) for s in self.steps)
        else:
            factor = (1.0 - min(it, self.total) / self.total) ** self.power
        if it < self.warmup_iters:
            alpha = it / self.warmup_iters
            factor *= self.warmup_factor * (1.0 - alpha) + alpha
        return factor
