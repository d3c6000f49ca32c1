"""NVlabs/SPADE checkpoints (latest_net_G.pth / latest_net_D.pth, as `save_network` writes them) load
strictly through `model.options.init_generator` / `init_discriminator`, at SPADE's Cityscapes and
COCO-Stuff options; the reference is tests/references/nvlabs_spade.py, SPADE's layout written apart
from panbench's modules."""

from __future__ import annotations

import pytest
import torch

from harness.errors import ConfigError
from harness.models.registry import create_model
from harness.models.synthesis.label_maps import label_input
from harness.train.checkpoint import save_checkpoint
from harness.train.tasks.synthesis.task import run_part
from harness.weights import WeightsError
from references import nvlabs_spade

# (SPADE's options) -> (panbench's create_model arguments); SPADE's semantic_nc = label_nc [+ dontcare] + edge
CITYSCAPES = (dict(label_nc=35, dontcare=False, crop_size=512, aspect_ratio=2.0, num_up="more"),
              dict(num_classes=35))
COCO_STUFF = (dict(label_nc=182, dontcare=True, crop_size=256, aspect_ratio=1.0, num_up="normal"),
              dict(num_classes=182, image_size=(256, 256), num_upsampling_layers="normal", dontcare_label=True))
OPTIONS = {"cityscapes": CITYSCAPES, "coco-stuff": COCO_STUFF}


def semantic_nc(spade: dict) -> int:
    return spade["label_nc"] + spade["dontcare"] + 1


def shapes(module: torch.nn.Module) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("dataset", OPTIONS)
def test_paper_scale_state_dicts_equal_spades_key_for_key(dataset):
    spade, ours = OPTIONS[dataset]
    with torch.device("meta"):
        g = nvlabs_spade.Generator(semantic_nc(spade), crop_size=spade["crop_size"],
                                   aspect_ratio=spade["aspect_ratio"], num_up=spade["num_up"])
        d = nvlabs_spade.Discriminator(semantic_nc(spade) + 3)
        model = create_model("spade", **ours)
        panoptic = create_model("panoptic-spade", **ours)
    assert shapes(model.generator) == shapes(g)
    assert shapes(model.discriminator) == shapes(d)
    assert "discriminator_1.model3.0.0.weight_orig" in shapes(d) and "discriminator_1.model3.0.0.bias" not in shapes(d)
    extra = {k: s for k, s in shapes(panoptic.generator).items() if k not in shapes(g)}
    assert {k: s for k, s in shapes(panoptic.generator).items() if k in shapes(g)} == shapes(g)
    assert set(extra) == projection_keys(panoptic)  # the three 1x1 projections (to 8, 4, 2 x ngf)
    if dataset == "cityscapes":
        assert sum(torch.Size(s).numel() for s in extra.values()) == 918_400  # the paper's 0.918 M


def projection_keys(model) -> set[str]:
    """The state keys of panoptic SPADE's 1x1 projections: three, on the upsamplings into up_1..up_3."""
    keys = {f"upsamples.{i}.proj.{p}" for i, u in enumerate(model.generator.upsamples) if u.proj is not None
            for p in ("weight", "bias")}
    assert len(keys) == 6
    return keys


def small_reference(dataset: str, seed: int = 0):
    """SPADE's nets at ngf = ndf = 16 and a 64-pixel crop, random weights and BatchNorm statistics."""
    spade, ours = OPTIONS[dataset]
    torch.manual_seed(seed)
    crop = 128 if spade["aspect_ratio"] == 2.0 else 64
    g = nvlabs_spade.Generator(semantic_nc(spade), crop_size=crop, aspect_ratio=spade["aspect_ratio"],
                               num_up=spade["num_up"], ngf=16)
    d = nvlabs_spade.Discriminator(semantic_nc(spade) + 3, ndf=16)
    for m in g.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.num_batches_tracked.fill_(7)
    size = (crop // int(spade["aspect_ratio"]), crop)
    return g.eval(), d.eval(), dict(ours, ngf=16, ndf=16, image_size=size)


def small_batch(dataset: str, size: tuple[int, int]) -> dict:
    spade, _ = OPTIONS[dataset]
    gen = torch.Generator().manual_seed(1)
    semantic = torch.randint(0, spade["label_nc"], (2, *size), generator=gen)
    if spade["dontcare"]:
        semantic[:, :4] = 255
    panoptic = semantic * 1000 + torch.randint(0, 2, (2, *size), generator=gen)
    return {"semantic": semantic, "panoptic": panoptic, "image": torch.rand(2, 3, *size, generator=gen) * 2 - 1}


@pytest.mark.parametrize("dataset", OPTIONS)
def test_latest_net_files_load_strictly_and_run_as_spades_networks(dataset, tmp_path):
    g, d, options = small_reference(dataset)
    g_file, d_file = tmp_path / "latest_net_G.pth", tmp_path / "latest_net_D.pth"
    torch.save(g.cpu().state_dict(), g_file)
    torch.save(d.cpu().state_dict(), d_file)
    model = create_model("spade", init_generator=str(g_file), init_discriminator=str(d_file), **options).eval()
    for ours, theirs in ((model.generator, g), (model.discriminator, d)):
        assert ours.state_dict().keys() == theirs.state_dict().keys()
        for key, value in theirs.state_dict().items():
            torch.testing.assert_close(ours.state_dict()[key], value, atol=0, rtol=0)
    batch = small_batch(dataset, options["image_size"])
    label, panoptic = model.labels(batch)
    with torch.no_grad():
        torch.testing.assert_close(model.generator(label, panoptic), g(label))
        x = torch.cat([label, batch["image"]], 1)
        for ours_scale, theirs_scale in zip(model.discriminator(x), d(x), strict=True):
            for a, b in zip(ours_scale, theirs_scale, strict=True):
                torch.testing.assert_close(a, b)


@pytest.mark.parametrize("dataset", OPTIONS)
def test_panoptic_spade_takes_spades_generator_with_only_the_projections_new(dataset, tmp_path, capsys):
    g, _, options = small_reference(dataset)
    g_file = tmp_path / "latest_net_G.pth"
    torch.save(g.state_dict(), g_file)
    model = create_model("panoptic-spade", init_generator=str(g_file), **options)
    said = capsys.readouterr().out
    assert "3 new 1x1 projections" in said and str(g_file) in said
    state = model.generator.state_dict()
    assert {k for k in state if k not in g.state_dict()} == projection_keys(model)
    for key, value in g.state_dict().items():
        torch.testing.assert_close(state[key], value, atol=0, rtol=0)
    # the fitting direction stays strict: SPADE's G without a key is refused
    torch.save({k: v for k, v in g.state_dict().items() if k != "fc.bias"}, g_file)
    with pytest.raises(WeightsError, match="missing: .*fc.bias"):
        create_model("panoptic-spade", init_generator=str(g_file), **options)


def test_a_discriminator_in_the_flat_layout_is_one_line_naming_the_file(tmp_path):
    _, d, options = small_reference("cityscapes")
    flat = {k.replace(".0.0.", ".0."): v for k, v in d.state_dict().items()}
    path = tmp_path / "flat_D.pth"
    torch.save(flat, path)
    with pytest.raises(WeightsError) as info:
        create_model("spade", init_discriminator=str(path), **options)
    message = str(info.value)
    assert str(path) in message and "\n" not in message and "model1.0.0.weight_orig" in message


def test_a_run_id_starts_g_and_d_from_that_runs_checkpoint(tmp_path):
    from harness.models.synthesis.spade_weights import load_part

    torch.manual_seed(3)
    source = create_model("spade-mini", num_classes=5)
    run_id = "0123456789ab"
    checkpoints = tmp_path / run_id / "checkpoints"
    checkpoints.mkdir(parents=True)
    save_checkpoint(checkpoints, {"iteration": 1, "modules": {"gan": source.state_dict()}, "optimizers": {},
                                  "data": {}, "rng": {}})
    torch.manual_seed(4)
    model = create_model("spade-mini", num_classes=5)
    for part in ("generator", "discriminator"):
        state, path = run_part(tmp_path, run_id, part, f"init_{part}")
        assert path == checkpoints / "last.pt"
        load_part(getattr(model, part), state, path, part)
    for key, value in source.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value, atol=0, rtol=0)
    with pytest.raises(ConfigError, match=r"ffffffffffff/checkpoints: model.options.init_generator=ffffffffffff "
                                          r"names a run without a checkpoint"):
        run_part(tmp_path, "ffffffffffff", "generator", "init_generator")
