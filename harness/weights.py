"""Weight files from users, read as data: `torch.load(..., weights_only=True)` only, so a crafted
pickle is refused before anything in it runs (issue 9), and a state dict that does not fit its
module is one line naming the file and the first mismatched keys."""

from __future__ import annotations

import hashlib
import io
import pickle
import zipfile
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from harness.atomic import write_bytes
from harness.errors import DatasetError

COUNTER_SUFFIX = "num_batches_tracked"  # BatchNorm's step counter: absent from files saved by PyTorch < 0.4.1
WRAPPER_KEYS = ("state_dict", "model")  # training checkpoints that hold the state dict one level down


class WeightsError(DatasetError):
    """A weights file is missing, refused (not plain tensors) or does not fit the architecture."""


def file_sha256(path: str | Path) -> str:
    """The hex SHA-256 of a (large) file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_state_dict(path: str | Path, state: Mapping[str, torch.Tensor]) -> Path:
    """A plain state dict (CPU tensors only, so `read_state_dict` takes it back) written atomically."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in state.items()}, buffer)
    write_bytes(path, buffer.getvalue())
    return Path(path)


def read_state_dict(path: str | Path, what: str = "weights") -> dict[str, torch.Tensor]:
    """The tensors of a local weights file, loaded with `weights_only=True` (never unpickled).

    A checkpoint holding its state dict under `state_dict` / `model` is unwrapped, and a
    DataParallel `module.` prefix on every key is removed (fyu/drn's `--resume` checkpoints)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(path, f"{what} file is missing")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = " ".join(str(exc).split("WeightsUnpickler error:")[-1].split())
        detail = detail.split(" Check the documentation")[0].split(" Please use")[0][:200]
        if "Unsupported global" in detail:  # a pickle that would build arbitrary objects (and run code)
            raise WeightsError(path, f"refused: {what} must be a plain state dict of tensors; this file needs "
                                     f"unpickling of arbitrary objects ({detail})") from None
        raise WeightsError(path, f"not {what}: not a PyTorch tensor file ({detail})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise WeightsError(path, f"not {what}: not a PyTorch tensor file ({type(exc).__name__}: {exc})") from None
    for key in WRAPPER_KEYS:
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise WeightsError(path, f"not {what}: expected a state dict (name -> tensor), got {type(state).__name__}")
    state = dict(state)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def mismatches(module: nn.Module, state: Mapping[str, torch.Tensor]) -> tuple[list[str], list[str], list[str]]:
    """(missing, unexpected, wrong-shape) keys of `state` against `module`; BatchNorm counters are
    not required (a file from PyTorch < 0.4.1 has none; they only count training steps)."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(COUNTER_SUFFIX)]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    return missing, unexpected, shapes


def describe_mismatch(missing: list[str], unexpected: list[str], shapes: list[str], limit: int = 3) -> str:
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shapes)):
        if keys:
            more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
            parts.append(f"{len(keys)} {label}: {', '.join(keys[:limit])}{more}")
    return "; ".join(parts)


def load_strict(module: nn.Module, state: Mapping[str, torch.Tensor], source: str | Path, what: str = "weights") -> nn.Module:
    """`module.load_state_dict(state, strict=True)`, with absent BatchNorm counters filled with 0
    (see `mismatches`); anything else that differs is one WeightsError line naming `source`."""
    missing, unexpected, shapes = mismatches(module, state)
    if missing or unexpected or shapes:
        raise WeightsError(source, f"{what} do not fit {type(module).__name__}: "
                                   + describe_mismatch(missing, unexpected, shapes))
    full = dict(state)
    for key, value in module.state_dict().items():
        if key.endswith(COUNTER_SUFFIX) and key not in full:
            full[key] = torch.zeros_like(value)
    module.load_state_dict(full, strict=True)
    return module


def fits(module: nn.Module, state: Mapping[str, torch.Tensor]) -> bool:
    return not any(mismatches(module, state))
