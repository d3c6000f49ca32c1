"""Starting a synthesis model from released or earlier weights (`model.options.init_generator` /
`init_discriminator`): NVlabs/SPADE's `latest_net_G.pth` / `latest_net_D.pth`, as its
`save_network` writes them (`torch.save(net.cpu().state_dict(), ...)`); a run id (that run's
checkpoint) is the synthesis task's to read, which hands the state to `load_part`. Loading G and D is
SPADE's own `--continue_train` (its files hold no optimiser state), so it also continues a released
SPADE training.

Every file is read with `weights_only=True` and loaded strictly. The one exception is by design:
panoptic SPADE started from SPADE's generator, where exactly the panoptic-aware upsampling's 1x1
projections (`upsamples.<k>.proj.*`, synthesis paper §3.3) have no counterpart; they keep their
initialisation and the loader says so."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from harness.weight_files import candidate_path
from harness.weights import load_strict, mismatches, read_state_dict

NEW_IN_PANOPTIC = re.compile(r"^upsamples\.\d+\.proj\.(weight|bias)$")


def new_in_panoptic(module: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """The keys `module` has and `state` lacks when `state` is SPADE's generator and `module` a
    panoptic SPADE generator: the 1x1 projections only, or [] when anything else differs."""
    missing, unexpected, shapes = mismatches(module, state)
    if unexpected or shapes or not missing or not all(NEW_IN_PANOPTIC.match(k) for k in missing):
        return []
    return missing


def load_file(module: nn.Module, value: str | Path, part: str) -> list[str]:
    """`load_part` from the weights file `value` names (a path, or a bare name in PANBENCH_WEIGHTS)."""
    path = candidate_path(value)
    return load_part(module, read_state_dict(path, f"{part} weights"), path, part)


def load_part(module: nn.Module, state: dict[str, torch.Tensor], path: str | Path, part: str) -> list[str]:
    """Load `state` (from `path`) into `part` ("generator" / "discriminator") `module`, strictly;
    -> the keys left at their initialisation (panoptic SPADE from SPADE: the projections)."""
    fresh = new_in_panoptic(module, state) if part == "generator" else []
    if fresh:
        state = {**state, **{k: v for k, v in module.state_dict().items() if k in fresh}}
        layers = sorted({k.rsplit(".", 1)[0] for k in fresh})
        print(f"{path}: SPADE generator weights loaded into panoptic SPADE; {len(layers)} new 1x1 projections "
              f"({', '.join(layers)}) keep their initialisation", flush=True)
    load_strict(module, state, path, what=f"{part} weights")
    return fresh
