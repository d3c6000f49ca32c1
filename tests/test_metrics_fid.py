"""FID: closed form of the Fréchet distance, torchmetrics' FID against it on the same features,
a set against itself, the weights lookup that must never download, the resize protocol (panbench's
features equal torch-fidelity's own extractor's; torchmetrics' antialiased default differs) and
weights that are never unpickled."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from harness.atomic import write_png
from harness.metrics import fid
from harness.metrics.fid import MissingWeightsError, compute_fid, frechet_distance


class TinyExtractor(nn.Module):
    """A fixed random CNN: uint8 (B, 3, H, W) -> (B, 6) features."""

    num_features = 6

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 5, stride=2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator) * 0.1)
            self.conv.bias.zero_()

    def forward(self, x):
        return torch.tanh(self.conv(x.float() / 255.0)).mean(dim=(2, 3)).double()


def images(seed, n=40, shift=0):
    rng = np.random.default_rng(seed)
    return [np.clip(rng.integers(0, 200, (16, 20, 3)) + shift, 0, 255).astype(np.uint8) for _ in range(n)]


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    s1, s2 = rng.uniform(0.1, 2, 5), rng.uniform(0.1, 2, 5)
    expected = ((mu1 - mu2) ** 2).sum() + (s1 + s2 - 2 * np.sqrt(s1 * s2)).sum()
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)
    # same full covariance: only the means differ
    a = rng.normal(size=(5, 5))
    cov = a @ a.T + np.eye(5)
    assert frechet_distance(mu1, cov, mu2, cov) == pytest.approx(((mu1 - mu2) ** 2).sum(), abs=1e-8)


def test_fid_equals_frechet_distance_of_the_features():
    extractor = TinyExtractor()
    real, fake = images(1), images(2, shift=40)
    value = compute_fid(real, fake, feature_extractor=extractor, batch_size=16, progress=False)
    with torch.no_grad():
        f_real = extractor(torch.from_numpy(np.stack(real)).permute(0, 3, 1, 2)).numpy()
        f_fake = extractor(torch.from_numpy(np.stack(fake)).permute(0, 3, 1, 2)).numpy()
    expected = frechet_distance(f_real.mean(0), np.cov(f_real, rowvar=False), f_fake.mean(0), np.cov(f_fake, rowvar=False))
    assert value == pytest.approx(expected, rel=1e-6)
    assert value > 1e-3


def test_fid_of_a_set_against_itself_is_zero(tmp_path):
    for k, image in enumerate(images(3)):
        write_png(tmp_path / "real" / f"{k:03d}.png", image)
    assert compute_fid(tmp_path / "real", images(3), feature_extractor=TinyExtractor(), progress=False) == \
        pytest.approx(0.0, abs=1e-6)


def test_missing_weights_name_the_file_and_never_download(tmp_path, monkeypatch, no_offline_inception):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url",
                        lambda *a, **k: pytest.fail("tried to download"))
    with pytest.raises(MissingWeightsError, match=r"nope\.pth.*--weights FILE"):
        compute_fid(images(0, 4), images(1, 4), weights_path=tmp_path / "nope.pth", progress=False)
    with pytest.raises(MissingWeightsError, match=str(tmp_path / "hub" / "checkpoints" / fid.INCEPTION_FILE)):
        compute_fid(images(0, 4), images(1, 4), progress=False)


@pytest.mark.slow
def test_inception_path_loads_a_local_weights_file(tmp_path, monkeypatch):
    """torch-fidelity's InceptionV3 built from a local file (random weights of the right layout)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    with monkeypatch.context() as m:
        m.setattr("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        torch.manual_seed(0)
        model = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    torch.save(model.state_dict(), tmp_path / fid.INCEPTION_FILE)
    monkeypatch.setattr("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url",
                        lambda *a, **k: pytest.fail("tried to download"))
    same = images(4, n=3)
    assert compute_fid(same, same, weights_path=tmp_path / fid.INCEPTION_FILE, progress=False, dims=64) == \
        pytest.approx(0.0, abs=1e-3)


def test_fid_equals_torchmetrics_fid_on_the_same_features():
    from torchmetrics.image.fid import FrechetInceptionDistance

    extractor = TinyExtractor()
    real, fake = images(5), images(6, shift=30)
    metric = FrechetInceptionDistance(feature=extractor)
    metric.update(torch.from_numpy(np.stack(real)).permute(0, 3, 1, 2), real=True)
    metric.update(torch.from_numpy(np.stack(fake)).permute(0, 3, 1, 2), real=False)
    assert compute_fid(real, fake, feature_extractor=extractor, progress=False) == \
        pytest.approx(float(metric.compute()), rel=1e-5)


@pytest.fixture(scope="module")
def random_inception(tmp_path_factory):
    """A torch-fidelity InceptionV3 state dict with random weights, saved as a plain weights file."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    with pytest.MonkeyPatch.context() as m:
        m.setattr("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url", lambda *a, **k: {})
        m.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        torch.manual_seed(0)
        model = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    path = tmp_path_factory.mktemp("inception") / fid.INCEPTION_FILE
    torch.save(model.state_dict(), path)
    return path


@pytest.mark.slow
def test_features_equal_torch_fidelitys_extractor_and_not_torchmetrics_antialiased_default(tmp_path, random_inception,
                                                                                           monkeypatch):
    """Images of 48x80 (not 299): the resize decides the features. panbench's path (PNG folder ->
    batches -> extractor) equals torch-fidelity's extractor on the same uint8 tensor, and equals
    torchmetrics' Inception with antialias=False; torchmetrics' default (antialias=True) differs."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    from torchmetrics.image.fid import NoTrainInceptionV3

    monkeypatch.setattr("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url",
                        lambda *a, **k: pytest.fail("tried to download"))
    rng = np.random.default_rng(0)
    pictures = [rng.integers(0, 256, (48, 80, 3), dtype=np.uint8) for _ in range(3)]
    for k, picture in enumerate(pictures):
        write_png(tmp_path / "imgs" / f"{k}.png", picture)
    ours = fid.image_features(tmp_path / "imgs", fid.load_inception(random_inception), progress=False)
    batch = torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2)
    with torch.no_grad():
        reference = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                feature_extractor_weights_path=str(random_inception))(batch)[0]
        plain = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(random_inception), antialias=False)(batch)
        antialiased = NoTrainInceptionV3("inception-v3-compat", ["2048"], str(random_inception), antialias=True)(batch)
    scale = reference.abs().max().item()
    assert ours.shape == (3, 2048) and scale > 0
    np.testing.assert_allclose(ours, reference.double().numpy(), rtol=0, atol=1e-5 * scale)
    np.testing.assert_allclose(plain.double().numpy(), reference.double().numpy(), rtol=0, atol=1e-5 * scale)
    assert (antialiased - reference).abs().max().item() > 1e-3 * scale


def crafted_pickle(path, marker):
    """A 'weights' file whose unpickling creates `marker` (as a shell command would run)."""

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"Conv2d_1a_3x3.conv.weight": Payload()}, path)


def test_crafted_weights_are_refused_and_nothing_runs(tmp_path, capsys):
    from harness.cli import main

    live, marker = tmp_path / "live-marker", tmp_path / "marker"
    crafted_pickle(tmp_path / "probe.pth", live)
    torch.load(tmp_path / "probe.pth", weights_only=False)  # the payload is live: unpickling runs it
    assert live.exists()
    crafted_pickle(tmp_path / "evil.pth", marker)
    for k, picture in enumerate(images(7, n=2)):
        write_png(tmp_path / "imgs" / f"{k}.png", picture)
    with pytest.raises(fid.WeightsError, match=r"evil\.pth: refused"):
        fid.load_inception(tmp_path / "evil.pth")
    code = main(["evaluate", "fid", "--real", str(tmp_path / "imgs"), "--fake", str(tmp_path / "imgs"),
                 "--weights", str(tmp_path / "evil.pth")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(tmp_path / "evil.pth") in err[0] and "refused" in err[0]
    assert not marker.exists()


def test_weights_of_another_layout_are_one_line_naming_the_file(tmp_path):
    torch.save({"conv.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    with pytest.raises(fid.WeightsError, match=r"other\.pth: not torch-fidelity's Inception weights"):
        fid.load_inception(tmp_path / "other.pth")
