"""The loop's task interface carries what GAN training needs: two named modules, two optimizers with
their own lr, grad clipping and schedulers (a linear decay to 0 over the second half, as SPADE's),
alternating steps inside `train_step`, and exact resume of all of it: N + N steps equal 2N steps bit
for bit for both modules (parameters and BatchNorm buffers), both optimizers' states, both
schedulers and the RNG streams (torch, numpy, python) that the step draws from, in one process and
under 2-process gloo DDP."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from harness.train.checkpoint import LAST, CheckpointError
from harness.train.distributed import DistContext
from harness.train.loop import Trainer, TrainSettings
from harness.train.task import OptimizerSetup, Step


class Points(Dataset):
    """Real samples: a pure function of (index, epoch), as the loop's sampler requires."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor:
        index, epoch = key
        g = torch.Generator().manual_seed(1000 * epoch + index)
        return torch.randn(4, generator=g) * 0.5 + 2.0


class TwoPlayerTask:
    """A GAN in miniature: a generator (with BatchNorm) maps noise to points, a discriminator with
    dropout scores them; the discriminator steps first (hinge loss), then the generator."""

    sync_batchnorm = True  # no effect without DDP on CUDA; the option is the task's
    find_unused_parameters = False

    def __init__(self, n: int = 10):
        self.n = n

    def modules(self) -> dict[str, nn.Module]:
        generator = nn.Sequential(nn.Linear(3, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 4))
        discriminator = nn.Sequential(nn.Linear(4, 16), nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Linear(16, 1))
        return {"generator": generator, "discriminator": discriminator}

    def optimizers(self, modules, total_iterations, total_batch):
        half = total_iterations / 2

        def decay(it: int) -> float:  # constant, then linear to 0 over the second half
            return 1.0 if it < half else max(0.0, (total_iterations - it) / half)

        g = torch.optim.Adam(modules["generator"].parameters(), lr=1e-3, betas=(0.0, 0.999))
        d = torch.optim.Adam(modules["discriminator"].parameters(), lr=4e-3, betas=(0.0, 0.999))
        return {"generator": OptimizerSetup(g, torch.optim.lr_scheduler.LambdaLR(g, decay)),
                "discriminator": OptimizerSetup(d, torch.optim.lr_scheduler.LambdaLR(d, decay), grad_clip=1.0)}

    def train_set(self) -> Dataset:
        return Points(self.n)

    @staticmethod
    def collate(samples: list) -> torch.Tensor:
        return torch.stack(samples)

    def train_step(self, real: torch.Tensor, step: Step) -> dict[str, float]:
        """SPADE's order: the discriminator on real and (no-grad) fake in one batch, then the generator."""
        real = real.to(step.device)
        noise = torch.randn(len(real), 3)  # the global torch RNG (and the dropout's)
        jitter = 0.01 * float(np.random.rand()) + 0.01 * random.random()  # numpy's and python's RNGs
        generator, discriminator = step.nets["generator"], step.nets["discriminator"]
        with step.autocast():
            with torch.no_grad():  # under DDP a generator forward with grad must be followed by its backward
                fake = generator(noise)
            scores = discriminator(torch.cat([real + jitter, fake]))
            loss_d = F.relu(1 - scores[: len(real)]).mean() + F.relu(1 + scores[len(real):]).mean()
        step.optims["discriminator"].step(loss_d)
        with step.autocast():
            loss_g = -discriminator(generator(noise)).mean()
        step.optims["generator"].step(loss_g)
        return {"loss_d": float(loss_d.detach()), "loss_g": float(loss_g.detach())}


SETTINGS = TrainSettings(epochs=2, ims_per_gpu=2, max_iters=None, amp=True, checkpoint_every=3, log_every=1,
                         eval_every=0, seed=0, workers=0)


def _trainer(checkpoint_dir, log=None) -> Trainer:
    torch.manual_seed(0)  # as harness.train.run.seed_everything does for a run
    np.random.seed(0)
    random.seed(0)
    return Trainer(TwoPlayerTask(), SETTINGS, DistContext(), checkpoint_dir, log=log, progress=False)


def _state(trainer: Trainer) -> dict:
    return {"modules": {n: m.state_dict() for n, m in trainer.modules.items()},
            "optimizers": {n: o.optimizer.state_dict()["state"] for n, o in trainer.optims.items()},
            "lrs": {n: o.lr for n, o in trainer.optims.items()},
            "epochs": {n: o.scheduler.last_epoch for n, o in trainer.optims.items()}}


def _assert_equal(a, b, where=""):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_equal(a[key], b[key], f"{where}.{key}")
    else:
        assert a == b, where


def test_two_modules_two_optimizers_resume_exactly(tmp_path):
    logs = []
    straight = _trainer(tmp_path / "straight", log=logs.append)
    assert straight.total == 10  # 2 epochs x 10 points / 2 per step
    straight.fit()
    first = _trainer(tmp_path / "resumed")
    first.fit(stop_at=5)  # stops between checkpoints (every 3): saved at the stop
    torch.manual_seed(1234)  # a fresh process: other RNG states everywhere
    np.random.seed(99)
    random.seed(7)
    second = _trainer(tmp_path / "resumed")
    assert second.iteration == 5 and {o.scheduler.last_epoch for o in second.optims.values()} == {5}
    second.fit()
    assert second.iteration == straight.iteration == 10
    _assert_equal(_state(straight), _state(second))
    # each optimizer kept its own lr and schedule: constant, then linearly to 0 in the second half
    assert [round(r["lr_generator"], 6) for r in logs] == [0.001] * 6 + [0.0008, 0.0006, 0.0004, 0.0002]
    assert [round(r["lr_discriminator"], 6) for r in logs] == [0.004] * 6 + [0.0032, 0.0024, 0.0016, 0.0008]
    assert {"loss_d", "loss_g", "step", "epoch", "s_per_it"} <= set(logs[0])
    assert straight.optims["generator"].lr == straight.optims["discriminator"].lr == 0.0  # decayed to 0
    # the step changed both players, and the generator's BatchNorm statistics
    fresh = TwoPlayerTask().modules()
    assert not torch.equal(fresh["generator"][0].weight, straight.modules["generator"][0].weight)
    assert not torch.equal(fresh["discriminator"][0].weight, straight.modules["discriminator"][0].weight)
    assert int(straight.modules["generator"][1].num_batches_tracked) == 20  # two generator forwards per step


def test_checkpoint_holds_every_part_by_name(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.fit(stop_at=2)
    state = torch.load(tmp_path / LAST, weights_only=True)  # plain tensors and containers only
    assert set(state["modules"]) == set(state["optimizers"]) == {"generator", "discriminator"}
    assert set(state["optimizers"]["generator"]) == {"optimizer", "scaler", "scheduler"}
    assert state["iteration"] == 2 and state["data"]["n"] == 10


def test_a_checkpoint_of_another_task_is_refused(tmp_path):
    class OnePlayer(TwoPlayerTask):
        def modules(self):
            return {"generator": super().modules()["generator"]}

        def optimizers(self, modules, total_iterations, total_batch):
            g = torch.optim.Adam(modules["generator"].parameters(), lr=1e-3)
            return {"generator": OptimizerSetup(g)}

    _trainer(tmp_path).fit(stop_at=2)
    with pytest.raises(CheckpointError, match=r"last\.pt: holds modules \['discriminator', 'generator'\]"):
        Trainer(OnePlayer(), SETTINGS, DistContext(), tmp_path, progress=False)


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    """One rank of a 2-process gloo job: a straight run, then the same run stopped and resumed."""
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from harness.train.distributed import init_distributed, shutdown

    ctx = init_distributed()
    try:
        def trainer(directory):
            torch.manual_seed(0)
            np.random.seed(0)
            random.seed(0)
            return Trainer(TwoPlayerTask(), SETTINGS, ctx, directory, progress=False)

        straight = trainer(Path(out) / "straight")
        straight.fit()
        trainer(Path(out) / "resumed").fit(stop_at=3)
        torch.manual_seed(100 + rank)
        resumed = trainer(Path(out) / "resumed")
        assert resumed.iteration == 3
        resumed.fit()
        torch.save({"straight": _state(straight), "resumed": _state(resumed)}, Path(out) / f"rank{rank}.pt")
    finally:
        shutdown(ctx)


@pytest.mark.slow
def test_two_modules_under_ddp_stay_in_sync_and_resume_exactly(tmp_path):
    """2 gloo processes: both modules wrapped in DDP, alternating steps, one checkpoint for both
    ranks' RNG streams; the ranks end equal and the resumed run equals the straight one."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    _assert_equal(ranks[0]["straight"]["modules"], ranks[1]["straight"]["modules"])  # DDP kept them equal
    for state in ranks:
        _assert_equal(state["straight"], state["resumed"])
    assert ranks[0]["straight"]["epochs"] == {"generator": 5, "discriminator": 5}  # 10 points / (2 ranks x 2)
