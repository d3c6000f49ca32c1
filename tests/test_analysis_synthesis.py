"""The synthesis tables and the sample figure from a run store: real (tiny) evaluator runs, and
synthesis runs recorded through RunSpec -> RunStore whose metrics are real evaluations
(`evaluate_synthesis` with those evaluators) of images a stand-in generator wrote where a synthesis
run writes them (`<run>/predictions/generated/`: the real validation images degraded, more for
"SPADE", less for "panoptic SPADE", differently per seed), so the tables' ordering and seed
statistics are known in advance. A table from real mini GAN runs and evaluator runs is
tests/test_train_synthesis.py's (`..._tables_the_ceiling`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.render import to_markdown
from analysis.synthesis_samples import one_run_per_generator, synthesis_samples
from analysis.synthesis_tables import ceiling_rows
from analysis.specs import build_table
from analysis.tables import RunFilter, select_runs
from evaluator_fixtures import evaluator_reference
from harness.atomic import write_png
from harness.cli import main
from harness.config.recipes import load_recipe
from harness.config.run_spec import run_specs
from harness.data.categories import CITYSCAPES_CATEGORIES
from harness.data.dataset import PanopticDataset
from harness.errors import DatasetError
from harness.metrics.synthesis import RESULT_KEYS, evaluate_synthesis
from harness.tracking.run_store import RunStore
from harness.train.tasks.evaluator.runs import weights_of_run
from test_metrics_fid import TinyExtractor

SEEDS = (0, 1, 2)
NOISE = {"spade": 60.0, "+panoptic-conv": 40.0, "+panoptic-upsampling": 20.0, "panoptic-spade": 20.0}


def recipe_yaml(path, cache, cases: str) -> str:
    path.write_text(f"""base: mini
data:
  synth: {{width: 128, height: 64, count: 8, val_count: 4}}
  cache: {cache}
eval:
  segmenter: "{evaluator_reference(cache)}"
  detector: "{evaluator_reference(cache)}"
grid:
  cases:
{cases}
""")
    return str(path)


def stand_in_generator(val: PanopticDataset, out, noise: float, seed: int) -> None:
    """The real validation images plus Gaussian noise of std `noise`, one per label map, by its stem."""
    rng = np.random.default_rng(seed)
    for index, image in enumerate(val.images):
        stem = val.annotation_for(image["id"])["file_name"].rsplit(".", 1)[0]
        real = val.read_image(index).astype(float)
        write_png(out / f"{stem}.png", np.clip(real + rng.normal(0, noise, real.shape), 0, 255).astype(np.uint8))


@pytest.fixture(scope="module")
def store(tiny_evaluators, tmp_path_factory):
    root, cache, evaluators = tiny_evaluators
    folder = tmp_path_factory.mktemp("recipes")
    runs = RunStore(root)
    val_root = runs.read_run(evaluators["drn-d-mini"])["data"]["val_root"]
    val = PanopticDataset.load(val_root)
    weights = {kind: weights_of_run(runs.run_dir(evaluators[model]))
               for kind, model in (("segmenter", "drn-d-mini"), ("detector", "fasterrcnn-mini"))}
    recipes = {
        "synth-study-t1": recipe_yaml(folder / "synth-study-t1.yaml", cache,
                                      "    - {model.name: spade-mini}\n    - {model.name: panoptic-spade-mini}"),
        "synth-study-t4": recipe_yaml(folder / "synth-study-t4.yaml", cache,
                                      "    - {model.name: spade-mini}\n"
                                      "    - {model.name: panoptic-spade-mini, model.options: {panoptic_upsample: false}}\n"
                                      "    - {model.name: panoptic-spade-mini}"),
    }
    recorded = []
    for name, path in recipes.items():
        for spec in run_specs(load_recipe(path), seeds=SEEDS):
            method = {"spade-mini": "spade"}.get(spec.model, "panoptic-spade")
            if name == "synth-study-t4" and spec.model != "spade-mini":
                method = "+panoptic-upsampling" if spec.settings.model.options.get("panoptic_upsample", True) \
                    else "+panoptic-conv"
            runs.start(spec)
            runs.record_data(spec.run_id, n=8, n_train=8, data={"val_root": val_root})
            generated = runs.run_dir(spec.run_id) / "predictions" / "generated"  # where a synthesis run writes them
            runs.update(spec.run_id, generated="predictions/generated")
            stand_in_generator(val, generated, NOISE[method], spec.seed)
            result = evaluate_synthesis(generated, val.json_path, val.root / "panoptic", segmenter=weights["segmenter"],
                                        detector=weights["detector"], feature_extractor=TinyExtractor())
            runs.finish(spec.run_id, {**{k: result[k] for k in RESULT_KEYS if result[k] is not None},
                                      "per_class": {str(c): v for c, v in result["per_class"].items()}}, 1.0)
            recorded.append({"recipe": name, "method": method, "seed": spec.seed, "run_id": spec.run_id,
                             **runs.read_metrics(spec.run_id)})
    return root, evaluators, pd.DataFrame(recorded)


def table(store, name, recipe):
    return build_table(name, "runs", RunFilter(root=store[0], recipe=recipe))


@pytest.mark.slow
def test_table1_rows_are_seed_means_beside_the_real_images_ceiling(store):
    root, evaluators, recorded = store
    t1 = table(store, "synth-table1", "synth-study-t1")
    frame = t1.frame.set_index("method")
    assert list(frame.index) == ["spade", "panoptic-spade", "real images"]
    for method, runs in recorded[recorded.recipe == "synth-study-t1"].groupby("method"):
        for key in ("det_ap", "miou", "accuracy", "fid", "kid"):
            assert frame.at[method, key] == pytest.approx(np.mean(runs[key]))
            assert frame.at[method, f"{key}_std"] == pytest.approx(np.std(runs[key], ddof=1))
        assert frame.at[method, "seeds"] == 3
    segmenter = RunStore(root).read_metrics(evaluators["drn-d-mini"])
    detector = RunStore(root).read_metrics(evaluators["fasterrcnn-mini"])
    assert frame.at["real images", "miou"] == segmenter["miou"]
    assert frame.at["real images", "accuracy"] == segmenter["accuracy"]
    assert frame.at["real images", "det_ap"] == detector["det_ap"]
    assert pd.isna(frame.at["real images", "fid"]) and pd.isna(frame.at["real images", "kid"])
    assert frame.at["panoptic-spade", "miou"] > frame.at["spade", "miou"]  # less noise, better scores
    assert evaluators["drn-d-mini"] in t1.caption and evaluators["fasterrcnn-mini"] in t1.caption
    assert "not the same images" not in t1.caption  # generators and ceiling on one validation set
    both = build_table("synth-table1", "both", RunFilter(root=root, recipe="synth-study-t1")).caption
    assert "Δ (arm) = the row − its method spade row, paired by seed" in both  # no empty "of the same"
    _, notes = ceiling_rows([{"segmenter": evaluators["drn-d-mini"], "detector": None}], root, {"/elsewhere/val"})
    assert len(notes) == 1 and "the generators on /elsewhere/val: not the same images" in notes[0]
    markdown = to_markdown(t1)
    assert "| generator | seeds | detAP | mIoU | accuracy | FID | KID |" in markdown and " ± " in markdown


@pytest.mark.slow
def test_table3_per_class_iou_with_the_ceiling_and_table4_over_seeds(store):
    root, evaluators, recorded = store
    t3 = table(store, "synth-table3", "synth-study-t1").frame.set_index("method")
    names = {str(c.id): c.name for c in CITYSCAPES_CATEGORIES}
    ceiling = RunStore(root).read_metrics(evaluators["drn-d-mini"])["per_class"]
    for cid, row in ceiling.items():
        if row["iou"] is not None:
            assert t3.at["real images", names[cid]] == pytest.approx(row["iou"])
    spade = recorded[(recorded.recipe == "synth-study-t1") & (recorded.method == "spade")]
    road = [m["7"]["iou"] for m in spade.per_class]
    assert t3.at["spade", "road"] == pytest.approx(np.mean(road))
    assert list(t3.columns[:3]) == ["road", "sidewalk", "building"]

    t4 = table(store, "synth-table4", "synth-study-t4")
    frame = t4.frame.set_index("method")
    assert list(frame.index) == ["spade", "+panoptic-conv", "+panoptic-upsampling", "real images"]
    runs = recorded[recorded.recipe == "synth-study-t4"]
    for method in ("spade", "+panoptic-conv", "+panoptic-upsampling"):
        values = runs[runs.method == method].miou
        assert frame.at[method, "miou"] == pytest.approx(values.mean())
        assert frame.at[method, "miou_std"] == pytest.approx(values.std(ddof=1))
    assert "+panoptic-upsampling - spade: miou " in t4.caption and "seeds [0, 1, 2]" in t4.caption


@pytest.mark.slow
def test_cli_tables_and_the_sample_figure(store, tmp_path, capsys, monkeypatch):
    root = store[0]
    for name in ("synth-table1", "synth-table3", "synth-table4"):
        recipe = "synth-study-t4" if name == "synth-table4" else "synth-study-t1"
        assert main(["table", name, "--source", "runs", "--recipe", recipe, "--runs-root", str(root),
                     "--out", str(tmp_path / f"{name}.csv")]) == 0
    assert "real images" in (tmp_path / "synth-table1.csv").read_text()
    capsys.readouterr()
    assert main(["figure", "synth-samples", "--recipe", "synth-study-t1", "--runs-root", str(root), "--images", "2",
                 "--out", str(tmp_path / "samples")]) == 0
    assert (tmp_path / "samples.png").stat().st_size > 0 and "<svg" in (tmp_path / "samples.svg").read_text()

    monkeypatch.setattr("analysis.synthesis_samples.SCORE_THRESHOLD", 0.0)  # every detection drawn
    fig = synthesis_samples(select_runs(RunFilter(root=root, recipe="synth-study-t1")), root, n_images=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["label", "real images", "SPADE", "panoptic SPADE"] and len(fig.axes) == 8
    assert all(not ax.patches for ax in fig.axes[0::4])  # no boxes on the label maps
    assert all(ax.patches for k, ax in enumerate(fig.axes) if k % 4)  # the detector's boxes on every image
    assert "fasterrcnn-mini" in fig._suptitle.get_text()


@pytest.mark.slow
def test_a_generated_image_linked_out_of_its_run_is_refused(store, tmp_path):
    root = store[0]
    runs = select_runs(RunFilter(root=root, recipe="synth-study-t1"))
    shown = one_run_per_generator(runs)[0][1]  # the SPADE run the figure reads
    victim = sorted((Path(shown.run_dir) / "predictions" / "generated").glob("*.png"))[0]
    outside = tmp_path / "secret.png"
    write_png(outside, np.zeros((64, 128, 3), np.uint8))
    original = victim.read_bytes()
    victim.unlink()
    victim.symlink_to(outside)
    try:
        with pytest.raises(DatasetError, match=r"run\.json: generated image of .*outside generated/"):
            synthesis_samples(runs, root, n_images=4)
    finally:
        victim.unlink()
        victim.write_bytes(original)


def test_runs_scored_under_different_protocols_never_share_a_column(tmp_path, capsys):
    from harness.errors import PanbenchError
    from run_records import spec_for

    runs = RunStore(tmp_path / "runs")
    for protocol, overrides in (("paper", ()), ("spade", ("eval.protocol=spade",))):
        spec = spec_for("synth-table1-mini", overrides)
        runs.start(spec)
        runs.finish(spec.run_id, {"miou": 40.0, "accuracy": 70.0, "per_class": {}, "protocol": protocol}, 1.0)
    paper_id = spec_for("synth-table1-mini").run_id
    # the default protocol leaves the run id as it was before the key existed; another one changes it
    from harness.config.recipe_schema import result_config

    default = spec_for("synth-table1-mini").config
    assert default["eval"]["protocol"] == "paper" and "protocol" not in result_config(default)["eval"]
    assert result_config(spec_for("synth-table1-mini", ("eval.protocol=spade",)).config)["eval"]["protocol"] == "spade"
    with pytest.raises(PanbenchError, match=r"different evaluation protocols \(paper: [0-9a-f]{12}; spade: "):
        build_table("synth-table1", "runs", RunFilter(root=tmp_path / "runs", recipe="synth-table1-mini"))
    capsys.readouterr()
    assert main(["table", "synth-table1", "--runs-root", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different evaluation protocols" in err and paper_id in err
