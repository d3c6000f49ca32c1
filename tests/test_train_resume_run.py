"""A run interrupted mid-training resumes from its checkpoint on the next call: the iterations
already done are not repeated in history.jsonl and the run finishes."""

from __future__ import annotations

import json

import pytest

from harness.config.run_spec import RunSpec
from harness.train.loop import Trainer

pytestmark = pytest.mark.slow


def test_interrupted_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    import harness.train.run as run_module

    overrides = ["data.n=2", "data.synth.count=2", "data.synth.val_count=1", "train.max_iters=4", "train.log_every=1",
                 "train.checkpoint_every=2", "eval.images_logged=0", f"data.cache={tmp_path / 'cache'}"]
    cfg = RunSpec.from_recipe("panda-table2-mini", overrides)
    real_step = Trainer.step

    def interrupted_step(self, batch):
        if self.iteration == 3:  # killed during the 4th iteration, after the checkpoint at 2
            raise KeyboardInterrupt
        return real_step(self, batch)

    monkeypatch.setattr(Trainer, "step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        run_module.run_training(cfg, tmp_path / "runs", progress=False)
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]  # beside it: the store's .store.json
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"
    assert [json.loads(x)["step"] for x in (run_dir / "history.jsonl").read_text().splitlines()] == [1, 2, 3]

    monkeypatch.setattr(Trainer, "step", real_step)
    resumed_at = []
    real_fit = Trainer.fit
    monkeypatch.setattr(Trainer, "fit", lambda self, stop_at=None: resumed_at.append(self.iteration) or real_fit(self))
    run_module.run_training(cfg, tmp_path / "runs", progress=False)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["attempts"] == 2
    assert resumed_at == [2]  # the checkpoint at iteration 2, not where it stopped
    steps = [json.loads(x)["step"] for x in (run_dir / "history.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]
