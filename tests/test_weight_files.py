"""Pretrained weights from local files: the PANBENCH_WEIGHTS convention, torchvision-layout ImageNet
ResNets loaded strictly into the backbone, and paper-scale runs that refuse to start without them."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import resnet50

from harness.cli import main as panbench
from harness.errors import ConfigError
from harness.metrics.fid import find_inception_weights
from harness.models.pretrained import required_weight_files
from harness.models.registry import create_model
from harness.weight_files import (INCEPTION_FILE, KNOWN_FILES, RESNET50_FILE, RESNET101_FILE, VGG19_FILE,
                                  candidate_path, resolve_weight_file, weights_folder)
from harness.weights import WeightsError

CATS = [{"id": 7, "name": "road", "isthing": 0}, {"id": 26, "name": "car", "isthing": 1}]
KEY = "model.options.backbone_weights"


@pytest.fixture
def weights_dir(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    monkeypatch.setenv("PANBENCH_WEIGHTS", str(folder))
    return folder


def test_torchvision_file_names_are_torchvisions_own():
    from torchvision.models import ResNet50_Weights, ResNet101_Weights, VGG19_Weights

    for weights, name in ((ResNet50_Weights.IMAGENET1K_V1, RESNET50_FILE), (ResNet101_Weights.IMAGENET1K_V1, RESNET101_FILE),
                          (VGG19_Weights.IMAGENET1K_V1, VGG19_FILE)):
        assert weights.url.rsplit("/", 1)[1] == name
        assert KNOWN_FILES[name].source == weights.url


def test_bare_names_are_looked_up_in_the_weights_folder(weights_dir, tmp_path, monkeypatch):
    (weights_dir / RESNET50_FILE).write_bytes(b"x")
    assert weights_folder() == weights_dir
    assert resolve_weight_file(RESNET50_FILE, "ResNet-50 weights") == weights_dir / RESNET50_FILE
    assert resolve_weight_file("none", "w") is None and resolve_weight_file(None, "w") is None
    local = tmp_path / "mine.pth"
    local.write_bytes(b"x")
    assert resolve_weight_file(str(local), "w") == local  # a path is used as given
    monkeypatch.chdir(tmp_path)
    assert candidate_path("mine.pth") == local.relative_to(tmp_path)  # an existing file in the working directory
    with pytest.raises(ConfigError, match=rf"^{weights_dir}/{RESNET101_FILE}: R101 file is missing \(PANBENCH_WEIGHTS="
                                          rf"{weights_dir}\); download it once from https://download\.pytorch\.org/"
                                          rf"models/{RESNET101_FILE}, or set {KEY}=none to go without$"):
        resolve_weight_file(RESNET101_FILE, "R101", KEY)
    with pytest.raises(ConfigError, match=r"sub/absent\.pth: w file is missing$"):
        resolve_weight_file("sub/absent.pth", "w")


def test_the_default_folder_is_torch_hubs(monkeypatch, tmp_path):
    monkeypatch.delenv("PANBENCH_WEIGHTS", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    assert weights_folder() == tmp_path / "hub" / "checkpoints"  # where torchvision's own download puts them


def test_inception_and_evaluator_files_follow_the_convention(weights_dir):
    (weights_dir / INCEPTION_FILE).write_bytes(b"x")
    assert find_inception_weights() == weights_dir / INCEPTION_FILE
    assert find_inception_weights(INCEPTION_FILE) == weights_dir / INCEPTION_FILE
    from harness.models.evaluators.registry import load_evaluator

    with pytest.raises(WeightsError, match=rf"{weights_dir}/drn-d-105_ms_cityscapes\.pth: .*missing"):
        load_evaluator("drn-d-105_ms_cityscapes.pth")


def test_a_torchvision_resnet50_state_dict_loads_strictly(weights_dir):
    reference = resnet50(weights=None)
    with torch.no_grad():
        for buffer in reference.buffers():  # BatchNorm statistics that differ from the defaults
            if buffer.is_floating_point():
                buffer.uniform_(0.5, 1.5)
    torch.save(reference.state_dict(), weights_dir / RESNET50_FILE)  # fc.* and BN counters included
    model = create_model("upsnet-r50", categories=CATS, backbone_weights=RESNET50_FILE)
    body = model.detector.backbone.body
    expected = {k: v for k, v in reference.state_dict().items()
                if not k.startswith("fc.") and not k.endswith("num_batches_tracked")}
    loaded = body.state_dict()
    assert set(loaded) == set(expected)  # every trunk tensor, nothing else
    for key, value in expected.items():
        torch.testing.assert_close(loaded[key], value, rtol=0, atol=0)
    # a ResNet-101 file for a ResNet-50 model is refused, naming the file and the first keys that differ
    torch.save({**reference.state_dict(), "layer3.6.conv1.weight": torch.zeros(256, 1024, 1, 1)},
               weights_dir / "wrong.pth")
    with pytest.raises(WeightsError, match=r"wrong\.pth: ImageNet ResNet-50 weights do not fit ResNet: 1 unexpected: "
                                           r"layer3\.6\.conv1\.weight"):
        create_model("upsnet-r50", categories=CATS, backbone_weights=str(weights_dir / "wrong.pth"))


def test_paper_scale_models_name_their_weights_or_none(weights_dir):
    assert required_weight_files("upsnet-mini", {}) == {}
    assert required_weight_files("upsnet-r50", {"backbone_weights": "none"}) == {KEY: None}
    with pytest.raises(ConfigError, match=rf"{KEY} is not set: sss-r101 trains a ResNet-101.*{KEY}={RESNET101_FILE} "
                                          rf"\(looked for at {weights_dir}/{RESNET101_FILE}\) or {KEY}=none"):
        required_weight_files("sss-r101", {})
    (weights_dir / RESNET101_FILE).write_bytes(b"x")
    assert required_weight_files("upsnet-r101", {"backbone_weights": RESNET101_FILE}) == {
        KEY: weights_dir / RESNET101_FILE}
    with pytest.raises(ConfigError, match=rf"{weights_dir}/{VGG19_FILE}: VGG-19 weights"):
        required_weight_files("spade-mini", {"vgg_weights": VGG19_FILE})


def test_full_scale_train_and_sweep_refuse_in_one_line(weights_dir, tmp_path, capsys):
    runs = tmp_path / "runs"
    for command in (["train", "panda-table1"], ["sweep", "panda-table2"]):
        assert panbench([*command, "--runs-root", str(runs)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"panbench: error: {weights_dir}/{RESNET50_FILE}: ImageNet ResNet-50")
    assert panbench(["train", "panda-table1", "model.name=upsnet-r101", "--runs-root", str(runs)]) == 2
    assert f"{weights_dir}/{RESNET101_FILE}" in capsys.readouterr().err  # the R101 rows name their own file
    assert not runs.exists()  # refused before any run folder
    assert panbench(["sweep", "panda-table1", "--dry-run", "--runs-root", str(runs)]) == 0  # planning needs no file


def test_weights_check_says_present_absent_and_corrupted(weights_dir, tmp_path, capsys, monkeypatch):
    import hashlib
    from dataclasses import replace

    from harness.weight_check import ABSENT, CORRUPTED, OK, check_file

    assert KNOWN_FILES[RESNET50_FILE].sha256_prefix == "0676ba61"  # torchvision's name carries it
    body = b"stand-in bytes"  # the real file is 98 MB: the publisher's prefix is set to these bytes' digest
    monkeypatch.setitem(KNOWN_FILES, RESNET50_FILE,
                        replace(KNOWN_FILES[RESNET50_FILE], sha256_prefix=hashlib.sha256(body).hexdigest()[:8]))
    (weights_dir / RESNET50_FILE).write_bytes(body)
    assert check_file(RESNET50_FILE).status == OK
    (weights_dir / VGG19_FILE).write_bytes(b"truncated download")  # the name says dcbb9e9d; these bytes do not
    vgg = check_file(VGG19_FILE)
    assert (vgg.status, vgg.path) == (CORRUPTED, weights_dir / VGG19_FILE) and "dcbb9e9d" in vgg.detail
    absent = check_file(RESNET101_FILE)
    assert absent.status == ABSENT and f"https://download.pytorch.org/models/{RESNET101_FILE}" in absent.detail
    # no published hash (fyu/drn) or one's own file: it must read as plain tensors
    torch.save({"w": torch.zeros(2)}, weights_dir / "drn-d-105_ms_cityscapes.pth")
    assert check_file("drn-d-105_ms_cityscapes.pth").status == OK
    (tmp_path / "own.pth").write_bytes(b"\x00junk")
    assert check_file(str(tmp_path / "own.pth")).status == CORRUPTED
    capsys.readouterr()
    assert panbench(["weights", "check", RESNET50_FILE, "drn-d-105_ms_cityscapes.pth"]) == 0
    capsys.readouterr()
    assert panbench(["weights", "check", VGG19_FILE, RESNET101_FILE]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("corrupted ") and out[1].startswith("absent ") and len(out) == 2
    assert panbench(["weights", "check"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(KNOWN_FILES) and sum(line.startswith("ok ") for line in lines) == 2


def test_one_file_name_per_file_across_recipes_readme_and_the_known_files():
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    named = {m for path in (root / "recipes").glob("*.yaml")
             for m in re.findall(r"[\w.-]+\.pth", path.read_text())}
    table = {m for line in (root / "README.md").read_text().splitlines() if line.startswith("| `")
             for m in re.findall(r"^\| `([\w.-]+\.pth)`", line)}  # the README's table of weights files
    trained_here = {"fasterrcnn_resnet50_fpn_cityscapes.pth"}  # an evaluator run's file, not a published one
    assert named - trained_here <= set(KNOWN_FILES)
    assert table == set(KNOWN_FILES)
    for name, known in KNOWN_FILES.items():
        stated = re.search(r"-([0-9a-f]{8,})\.pth$", name)
        assert known.sha256_prefix == (stated.group(1) if stated and known.source.endswith(name) else None), name


def test_init_weights_are_checked_before_a_run_starts(weights_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"absent_G\.pth: generator weights to start from file is missing.*"
                                          r"model\.options\.init_generator=none"):
        required_weight_files("spade-mini", {"init_generator": str(tmp_path / "absent_G.pth")})
    torch.save({}, weights_dir / "latest_net_D.pth")
    found = required_weight_files("spade-mini", {"init_discriminator": "latest_net_D.pth",
                                                 "init_generator": "0123456789ab"})  # a run id: the task's to find
    assert found == {"model.options.init_discriminator": weights_dir / "latest_net_D.pth"}
