"""Training state for exact resume: every module, optimizer, lr scheduler and AMP scaler of a task,
the iteration, the data order (sampler state) and every rank's RNG states (torch, CUDA, numpy,
python), so N steps + stop + resume N steps gives the same weights as 2N steps straight.

One file, `checkpoints/last.pt`, replaced atomically (temp + rename): a run killed while saving
resumes from the previous checkpoint. It is read with `torch.load(weights_only=True)`, which
unpickles only tensors and plain containers: a checkpoint is data, never code. The RNG states that
numpy and python hand out as tuples are therefore stored as tensors and plain numbers and rebuilt."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.atomic import write_bytes
from harness.errors import PanbenchError

LAST = "last.pt"


class CheckpointError(PanbenchError):
    """A checkpoint file that is not one panbench wrote (or does not fit the run)."""

    def __init__(self, path: str | Path, problem: str):
        super().__init__(f"{path}: {problem}")


def rng_state() -> dict[str, Any]:
    """This process's RNG states as tensors and plain numbers (loadable with weights_only=True)."""
    _, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "cached_gaussian": float(cached)},
        "python": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy = state["numpy"]
    np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"],
                         numpy["cached_gaussian"]))
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"].tolist()), python["gauss_next"]))


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    path = Path(directory) / LAST
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes(path, buffer.getvalue())
    return path


def load_checkpoint(directory: Path) -> dict[str, Any] | None:
    """The state in `directory/last.pt` (None when there is none); anything but tensors and plain
    containers inside is refused unexecuted, with one line naming the file."""
    path = Path(directory) / LAST
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for foreign objects, RuntimeError / EOFError for junk
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
        reason = next((line for line in lines if "GLOBAL" in line), lines[0])  # torch's verdict, not its advice
        raise CheckpointError(path, f"not a panbench checkpoint, refused without running it ({reason})") from None
    if not isinstance(state, dict) or not {"iteration", "modules", "optimizers", "data", "rng"} <= set(state):
        raise CheckpointError(path, "not a panbench checkpoint (no training state inside)")
    return state
