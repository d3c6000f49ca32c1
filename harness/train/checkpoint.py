"""Training state for exact resume: model, optimizer, lr scheduler, AMP scaler, the iteration,
the data order (sampler state) and every rank's RNG states (torch, CUDA, numpy, python), so
N steps + stop + resume N steps gives the same weights as 2N steps straight.

One file, `checkpoints/last.pt`, replaced atomically (temp + rename): a run killed while saving
resumes from the previous checkpoint."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.atomic import write_bytes

LAST = "last.pt"


def rng_state() -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    path = Path(directory) / LAST
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_bytes(path, buffer.getvalue())
    return path


def load_checkpoint(directory: Path) -> dict[str, Any] | None:
    path = Path(directory) / LAST
    if not path.is_file():
        return None
    # our own file (numpy RNG state and python tuples need the full unpickler)
    return torch.load(path, map_location="cpu", weights_only=False)
