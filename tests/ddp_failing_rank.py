"""torchrun entry point for tests/test_launch_torchrun.py: `panbench` (harness.cli), except that DDP rank 1
raises in its second training step (a stand-in for a rank that hits a bug or runs out of memory)."""

from __future__ import annotations

import os
import sys

from harness.cli import main
from harness.train.loop import Trainer

MESSAGE = "rank 1 fails on purpose"
real_step = Trainer.step


def failing_step(self, batch):
    if self.ctx.rank == 1 and self.iteration == 1:
        raise ValueError(MESSAGE)
    return real_step(self, batch)


if __name__ == "__main__":
    assert os.environ.get("WORLD_SIZE") == "2"
    Trainer.step = failing_step
    sys.exit(main())
