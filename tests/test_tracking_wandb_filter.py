"""What a W&B run carries: tags and config sections that apply to its task only (no `panda=none`
on a GAN run, no `gan.*` on a panoptic run, no `launch.*` anywhere), the seed in its name and tags,
and a run id that does not move (it hashes the full config, never the W&B one)."""

from __future__ import annotations

import pytest

from harness.tracking import wandb_sink
from harness.tracking.run_store import RunStore
from harness.tracking.wandb_sink import WandbSink, run_tags, wandb_config
from harness.config.recipe_schema import WandbConfig
from harness.config.run_spec import run_id
from run_records import spec_for


def test_a_gan_run_has_no_panda_tag_and_no_launch_section():
    spec = spec_for("synth-table1-mini", ("seed=3",))
    assert run_tags(spec, 5) == ["synth", "n=5", "seed=3"]
    config = wandb_config(spec.config)
    assert "gan" in config and "launch" not in config and "panda" not in config
    assert "launch" in spec.config and run_id(spec.config) == spec.run_id


def test_a_panoptic_run_has_its_variant_and_no_gan_section():
    for panda, variant in (("none", "none"), ("1x", "panda-1x")):
        spec = spec_for("panda-table2-mini", ("data.n=10", f"data.panda={panda}"))
        assert run_tags(spec, 10) == ["synth", "n=10", "seed=0", f"panda={variant}"]
        config = wandb_config(spec.config)
        assert not {"gan", "launch"} & set(config) and ("panda" in config) == (panda != "none")
        assert not {"segmenter", "detector", "fid_weights"} & set(config["eval"])


def test_the_sink_names_the_seed_and_sends_the_filtered_config(tmp_path, monkeypatch):
    import wandb

    seen = {}

    class Run:
        dir = str(tmp_path / "wandb" / "offline-run-x" / "files")

    monkeypatch.setattr(wandb, "init", lambda **kwargs: seen.update(kwargs) or Run())
    monkeypatch.setattr(wandb_sink.WandbSink, "replay", lambda self, history: None)
    spec = spec_for("panda-table2-mini", ("data.n=10", "seed=2"))
    WandbSink(spec, tmp_path, WandbConfig(mode="offline", project="p", entity=None, init_timeout=30.0), n=10,
              wandb_id=RunStore(tmp_path).wandb_id(spec.run_id))
    assert seen["name"] == "panda-table2-mini/upsnet-mini/n=10/none/seed=2" and "seed=2" in seen["tags"]
    assert seen["config"] == wandb_config(spec.config) and "launch" not in seen["config"]


@pytest.mark.parametrize("recipe, extra", [("panda-table2", ()), ("panda-table2-mini", ("data.panda=online",)),
                                           ("synth-table1", ()), ("synth-evaluators-mini", ())])
def test_the_filter_drops_only_launch_and_what_does_not_apply(recipe, extra):
    spec = spec_for(recipe, extra)

    def leaves(node, prefix=""):
        return {p for k, v in node.items()
                for p in (leaves(v, f"{prefix}{k}.") if isinstance(v, dict) and v else {f"{prefix}{k}"})}

    dropped = leaves(spec.config) - leaves(wandb_config(spec.config))
    mode = spec.settings.data.mode
    allowed = {k for k in leaves(spec.config) if k.startswith("launch.") or k.startswith("data.augment")
               or (k.startswith("panda.") and not mode.enabled) or (k == "data.panda_mix" and not mode.online)
               or (k in ("panda.canvas", "panda.generator") and spec.settings.panda.canvas == "noise")}  # issue 25
    assert any(k.startswith("launch.") for k in dropped) and dropped == allowed
