"""Hostile and broken run configuration through `panbench train` / `sweep`: exit code 2, exactly one
`panbench: error:` line on stderr naming the key (or file) and the problem, nothing on stdout, and no
run folder in the store. A planted checkpoint is refused without running its payload; W&B that
cannot start is a failed run with the reason, not a hang."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cli_errors import one_line_error as refused
from harness.config.run_spec import RunSpec

TINY = ["data.n=2", "data.synth.count=2", "data.synth.val_count=1", "data.synth.width=64", "data.synth.height=32",
        "train.max_iters=1", "eval.images_logged=0"]



# (case, overrides, what the line must say)
BAD_VALUES = [
    ("n not a number", ["data.n=abc"], ["data.n", "'abc'", "Integer"]),
    ("n larger than the pool", ["data.n=1000"], ["data.n=1000 is larger than the training pool: 64"]),
    ("n zero", ["data.n=0"], ["data.n must be >= 1"]),
    ("top-level seed wrong type", ["seed=first"], ["seed", "'first'"]),
    ("model options not a mapping", ["model.options=3"], ["model.options"]),
    ("synth width wrong type", ["data.synth.width=wide"], ["data.synth.width", "'wide'"]),
    ("panda parameter wrong type", ["panda.scale_max=big"], ["panda.scale_max", "'big'"]),
    ("train epochs wrong type", ["train.epochs=many"], ["train.epochs", "'many'"]),
    ("train steps not a list", ["train.steps=half"], ["train.steps"]),
    ("eval every wrong type", ["eval.every=often"], ["eval.every", "'often'"]),
    ("wandb timeout wrong type", ["wandb.init_timeout=soon"], ["wandb.init_timeout", "'soon'"]),
    ("unknown dataset", ["data.dataset=kitti"], ["data.dataset must be one of synth, coco_panoptic, cityscapes"]),
    ("unknown subset rule", ["data.subset=sometimes"], ["data.subset must be one of random, every_kth"]),
    ("panda copies not Kx", ["data.panda=3"], ["data.panda must be none or Kx", "'3'"]),
    ("panda zero copies", ["data.panda=0x"], ["data.panda must be none or Kx"]),
    ("panda mix of one", ["data.panda=online", "data.panda_mix=1.0"],
     ["data.panda_mix must be a probability in [0, 1)"]),
    ("unknown schedule", ["train.schedule=cosine"], ["optim.schedule must be one of step, poly", "'cosine'"]),
    ("unknown wandb mode", ["wandb.mode=loud"], ["wandb.mode must be one of offline, online, disabled"]),
    ("unknown model", ["model.name=upsnet-huge"], ["model.name must be one of", "'upsnet-huge'"]),
    ("unknown model option", ["model.options.fpn_chanels=8"], ["model.options", "fpn_chanels", "fpn_channels"]),
    ("unknown panda op", ["panda.ops=[dropout,blur]"], ["panda:", "blur"]),
    ("unknown panda image format", ["panda.image_format=gif"], ["panda:", "image_format", "gif"]),
    ("flip probability out of range", ["train.hflip=1.5"], ["train.hflip must be a probability in [0, 1]"]),
    ("jitter range reversed", ["train.scale_jitter=[1.2,0.8]"], ["train.scale_jitter"]),
    ("panda scale range reversed", ["panda.scale_min=2.0"], ["panda:", "scale_min <= scale_max"]),
    ("real dataset without root", ["data.dataset=cityscapes"], ["data.root must be a COCO-panoptic folder"]),
    ("environment resolver", ["data.root=${oc.env:HOME}"], ["data.root", "calls a resolver"]),
    ("unknown key", ["train.epoch=3"], ["unknown key 'train.epoch'", "train.epochs"]),
    ("override without =", ["data.n"], ["override 'data.n': expected key=value"]),
]


@pytest.mark.parametrize("case, overrides, expected", BAD_VALUES, ids=[c[0] for c in BAD_VALUES])
def test_bad_recipe_value_is_one_line_and_no_run_folder(case, overrides, expected, tmp_path, capsys):
    runs = tmp_path / "runs"
    refused(capsys, ["train", "mini", *overrides, "--runs-root", str(runs), "--no-progress"], *expected)
    assert not runs.exists()
    refused(capsys, ["train", "mini", *overrides, "--print-config"], *expected)  # checked before printing too


def test_bad_value_in_a_recipe_file_names_the_file(tmp_path, capsys):
    (tmp_path / "typed.yaml").write_text("base: mini\ntrain:\n  epochs: many\n")
    refused(capsys, ["train", str(tmp_path / "typed.yaml"), "--print-config"], "typed.yaml: train.epochs", "'many'")
    (tmp_path / "env.yaml").write_text("base: mini\ndata:\n  cache: ${oc.env:HOME}/cache\n")
    refused(capsys, ["train", str(tmp_path / "env.yaml"), "--print-config"], "env.yaml: data.cache", "resolver")


def test_bad_grid_value_stops_the_sweep_before_any_run(tmp_path, capsys):
    (tmp_path / "grid.yaml").write_text("base: mini\ngrid:\n  data.n: [10, ten]\n")
    runs = tmp_path / "runs"
    refused(capsys, ["sweep", str(tmp_path / "grid.yaml"), "--runs-root", str(runs)], "grid data.n='ten'", "Integer")
    refused(capsys, ["sweep", str(tmp_path / "grid.yaml"), "--dry-run"], "grid data.n='ten'")
    (tmp_path / "big.yaml").write_text("base: mini\ngrid:\n  data.n: [10, 100]\n")
    refused(capsys, ["sweep", str(tmp_path / "big.yaml"), "--runs-root", str(runs)], "data.n=100 is larger")
    assert not runs.exists()


class Payload:
    """Unpickling this runs `touch MARKER`: what a planted checkpoint would do under weights_only=False."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("kind", ["pickle payload", "not a torch file"])
def test_planted_checkpoint_is_refused_unexecuted(kind, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    runs, marker = tmp_path / "runs", tmp_path / "MARKER"
    overrides = [*TINY, f"data.cache={tmp_path / 'cache'}"]
    spec = RunSpec.from_recipe("mini", overrides)
    checkpoint = runs / spec.run_id / "checkpoints" / "last.pt"
    checkpoint.parent.mkdir(parents=True)
    if kind == "pickle payload":
        torch.save({"iteration": 1, "modules": Payload(marker), "optimizers": {}, "data": {}, "rng": []}, checkpoint)
    else:
        checkpoint.write_bytes(b"\x00" * 64)
    line = refused(capsys, ["train", "mini", *overrides, "--runs-root", str(runs), "--no-progress"],
                   str(checkpoint), "not a panbench checkpoint")
    assert not marker.exists(), "the checkpoint's payload ran"
    if kind == "pickle payload":
        assert "GLOBAL" in line and "weights_only" not in line  # torch's verdict, not its advice to unpickle
    record = json.loads((runs / spec.run_id / "run.json").read_text())
    assert record["status"] == "failed" and "last.pt: not a panbench checkpoint" in record["error"]


@pytest.mark.slow
def test_wandb_online_without_a_server_fails_the_run_with_the_reason(tmp_path):
    """An online start-up against an address that refuses connections (no network needed) ends
    within wandb.init_timeout: exit 2, one line, the run recorded as failed with the reason."""
    runs = tmp_path / "runs"
    env = {**os.environ, "WANDB_MODE": "online", "WANDB_API_KEY": "0" * 40, "WANDB_BASE_URL": "http://127.0.0.1:9",
           "WANDB_SILENT": "true", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "harness.cli", "train", "mini", *TINY, f"data.cache={tmp_path / 'cache'}",
           "wandb.init_timeout=2", "--runs-root", str(runs), "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=Path(__file__).parents[1])
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("panbench: error: W&B online start-up failed"), done.stderr
    assert "wandb.init_timeout=2 s" in lines[0] and "wandb.mode=offline" in lines[0]
    (record,) = [json.loads(p.read_text()) for p in runs.glob("*/run.json")]
    assert record["status"] == "failed" and "W&B online start-up failed" in record["error"]
