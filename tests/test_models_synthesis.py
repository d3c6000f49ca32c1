"""The synthesis models behind `create_model`: label maps against loop references and
F.interpolate, losses against hand-computed values, a timm-style pass over every mini generator
(forward, every parameter gets a gradient, a few alternating Adam GAN steps on synthetic street
scenes), the paper-scale entries built with SPADE's published generator sizes, and the VGG-19
perceptual loss from a local weights file (a crafted pickle refused)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchvision.models import vgg19

from harness.data.categories import IGNORE_LABEL, categories_json
from harness.errors import ConfigError
from harness.models import create_model, list_models
from harness.models.panoptic_layers import PanopticConv2d
from harness.models.synthesis.entries import SYNTHESIS_MODELS
from harness.models.synthesis.label_maps import instance_edges, label_input, one_hot_semantic, resize_nearest
from harness.models.synthesis.losses import feature_matching_loss, hinge_discriminator_loss, hinge_generator_loss
from harness.models.synthesis.scene_batch import scene_batch
from harness.models.synthesis.spade_norm import SPADE
from harness.models.synthesis.vgg import VGGLoss, load_vgg19_features
from harness.weights import WeightsError

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: a second thread only spins

CATS = categories_json()
MINI = [name for name in list_models() if name in SYNTHESIS_MODELS and name.endswith("-mini")]
# every mini generator, and Table 4's middle row (panoptic convolution only) and its converse
VARIANTS = [(name, {}) for name in MINI] + [("panoptic-spade-mini", {"panoptic_upsample": False}),
                                            ("panoptic-spade-mini", {"panoptic_conv": False})]
GAN_STEPS = 16



@pytest.fixture(scope="module")
def batch():
    return scene_batch(2, 64, 128, seed=3)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- label maps ---------------------------------------------------------------------------------
def test_one_hot_puts_the_ignore_label_in_the_dontcare_channel_or_refuses_it():
    semantic = torch.tensor([[[0, 2], [IGNORE_LABEL, 1]]])
    onehot = one_hot_semantic(semantic, 3, dontcare_label=True)
    assert onehot.shape == (1, 4, 2, 2) and (onehot.sum(1) == 1).all()
    assert onehot[0, 3, 1, 0] == 1 and onehot[0, 2, 0, 1] == 1 and onehot[0, 0, 0, 0] == 1
    with pytest.raises(ValueError, match="dontcare_label"):
        one_hot_semantic(semantic, 3, dontcare_label=False)
    with pytest.raises(ValueError, match=r"\[7\]"):
        one_hot_semantic(torch.tensor([[[7]]]), 3)


def test_instance_edges_match_a_four_neighbour_loop():
    ids = torch.randint(0, 3, (2, 6, 7), generator=torch.Generator().manual_seed(0))
    want = torch.zeros(2, 1, 6, 7)
    for b in range(2):
        for r in range(6):
            for c in range(7):
                for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                    if 0 <= r + dr < 6 and 0 <= c + dc < 7 and ids[b, r + dr, c + dc] != ids[b, r, c]:
                        want[b, 0, r, c] = 1
    torch.testing.assert_close(instance_edges(ids), want)
    label = label_input(torch.zeros(2, 6, 7, dtype=torch.long), ids, 5)
    assert label.shape == (2, 7, 6, 7) and torch.equal(label[:, -1:], want)


@pytest.mark.parametrize("size,out", [((64, 128), (4, 8)), ((64, 128), (20, 50)), ((7, 9), (14, 18)), ((10, 10), (3, 7))])
def test_resize_nearest_picks_f_interpolates_pixels(size, out):
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 10 ** 6, (2, *size), generator=gen)
    maps = torch.randn(2, 3, *size, generator=gen)
    flat = torch.arange(size[0] * size[1], dtype=torch.float32).view(1, 1, *size)
    picked = F.interpolate(flat, size=out, mode="nearest").long().flatten()
    torch.testing.assert_close(resize_nearest(ids, out), ids.flatten(1)[:, picked].view(2, *out))
    torch.testing.assert_close(resize_nearest(maps, out), F.interpolate(maps, size=out, mode="nearest"))


# --- losses and normalisation against hand-computed values ----------------------------------------
def test_hinge_and_feature_matching_losses_by_hand():
    t = torch.tensor
    fake = [[t([[1.0, 3.0]]), t([[0.5, -2.0]])], [t([[0.0]]), t([[2.0]])]]  # two scales: a layer, the scores
    real = [[t([[1.0, 1.0]]), t([[1.5, 0.0]])], [t([[4.0]]), t([[-1.0]])]]
    # D: real scores (1.5, 0) and (-1): relu(1 - s) -> mean(0, 1) = 0.5 and 2 -> 1.25
    assert hinge_discriminator_loss(real, real=True).item() == pytest.approx(1.25)
    # fakes (0.5, -2) and (2): relu(1 + s) -> mean(1.5, 0) = 0.75 and 3 -> 1.875
    assert hinge_discriminator_loss(fake, real=False).item() == pytest.approx(1.875)
    assert hinge_generator_loss(fake).item() == pytest.approx((0.75 + -2.0) / 2)
    # L1 of the first layers: mean(|0|, |2|) = 1 and |0 - 4| = 4 -> mean over scales 2.5
    assert feature_matching_loss(fake, real).item() == pytest.approx(2.5)


def test_spade_is_parameter_free_batch_norm_then_label_predicted_scale_and_shift():
    torch.manual_seed(0)
    norm = SPADE(4, 3, hidden=5).train()
    x, label = torch.randn(2, 4, 6, 6), torch.randn(2, 3, 6, 6)
    hidden = F.relu(F.conv2d(label, norm.mlp_shared[0].weight, norm.mlp_shared[0].bias, padding=1))
    gamma = F.conv2d(hidden, norm.mlp_gamma.weight, norm.mlp_gamma.bias, padding=1)
    beta = F.conv2d(hidden, norm.mlp_beta.weight, norm.mlp_beta.bias, padding=1)
    mean, var = x.mean((0, 2, 3), keepdim=True), x.var((0, 2, 3), unbiased=False, keepdim=True)
    want = (x - mean) / torch.sqrt(var + 1e-5) * (1 + gamma) + beta
    torch.testing.assert_close(norm(x, label), want, atol=1e-5, rtol=1e-5)
    assert not list(norm.param_free_norm.parameters())


# --- the registry door --------------------------------------------------------------------------
def test_registry_lists_the_synthesis_models_beside_the_panoptic_ones():
    names = set(list_models())
    assert {"spade", "panoptic-spade", "spade-mini", "panoptic-spade-mini"} <= names
    assert {"upsnet-mini", "sss-r50"} <= names


def test_bad_options_and_class_counts_are_config_errors():
    with pytest.raises(ConfigError, match="did you mean panoptic_conv"):
        create_model("panoptic-spade-mini", categories=CATS, panoptic_convs=False)
    with pytest.raises(ConfigError, match="exactly one"):
        create_model("spade-mini")
    with pytest.raises(ConfigError, match="exactly one"):
        create_model("spade-mini", categories=CATS, num_classes=19)
    with pytest.raises(ConfigError, match="divisible"):
        create_model("spade-mini", num_classes=19, image_size=(60, 128))
    with pytest.raises(ConfigError, match="needs `categories`"):
        create_model("upsnet-mini")


def test_panoptic_spade_with_both_layers_off_is_spade_and_on_adds_only_the_1x1_projections(batch):
    torch.manual_seed(0)
    spade = create_model("spade-mini", categories=CATS).train()
    torch.manual_seed(0)
    off = create_model("panoptic-spade-mini", categories=CATS, panoptic_conv=False, panoptic_upsample=False).train()
    torch.testing.assert_close(off.generate(batch), spade.generate(batch), atol=0, rtol=0)
    on = create_model("panoptic-spade-mini", categories=CATS)
    shapes = {k: v.shape for k, v in spade.generator.state_dict().items()}
    on_shapes = {k: v.shape for k, v in on.generator.state_dict().items()}
    assert {k: s for k, s in on_shapes.items() if not k.startswith("upsamples.")} == shapes
    assert {k.split(".", 2)[2] for k in on_shapes if k.startswith("upsamples.")} == {"proj.weight", "proj.bias"}
    assert sum(isinstance(m, PanopticConv2d) for m in on.generator.modules()) == 1 + 2 * 7  # fc + 7 blocks
    widths = [None if u.proj is None else u.proj.out_channels for u in on.generator.upsamples]
    assert widths == [None, None, 128, 64, 32]  # 16·ngf = 256 enters the first two upsamplings


def test_spade_module_names_and_sync_batch_norm_conversion():
    model = create_model("spade-mini", categories=CATS)
    keys = set(model.generator.state_dict())
    assert {"fc.weight", "head_0.conv_0.weight_orig", "head_0.norm_0.mlp_shared.0.weight",
            "G_middle_1.norm_1.mlp_gamma.bias", "up_0.conv_s.weight_orig", "up_3.norm_s.mlp_beta.weight",
            "conv_img.weight"} <= keys
    d_keys = set(model.discriminator.state_dict())
    assert {"discriminator_0.model0.0.weight", "discriminator_1.model3.0.0.weight_orig",
            "discriminator_1.model4.0.bias"} <= d_keys
    n_spade = sum(isinstance(m, SPADE) for m in model.generator.modules())
    converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model.generator)
    assert sum(isinstance(m, torch.nn.SyncBatchNorm) for m in converted.modules()) == n_spade == 7 * 2 + 4


def test_discriminator_is_two_patchgans_of_four_strided_layers_on_label_and_image(batch):
    model = create_model("spade-mini", categories=CATS)
    label, _ = model.labels(batch)
    scales = model.discriminator(torch.cat([label, batch["image"]], 1))
    assert len(scales) == 2 and [len(s) for s in scales] == [5, 5]
    # 4x4 kernels, padding 2: stride 2 gives H/2 + 1, stride 1 gives H + 1
    assert [tuple(t.shape[1:]) for t in scales[0]] == [(16, 33, 65), (32, 17, 33), (64, 9, 17), (128, 10, 18),
                                                      (1, 11, 19)]
    assert tuple(scales[1][0].shape[2:]) == (17, 33)  # the input average-pooled to 32x64


def test_default_optimiser_settings_are_the_papers():
    optim = create_model("spade-mini", categories=CATS).default_optim
    assert (optim.lr_generator, optim.lr_discriminator, optim.beta1, optim.beta2) == (1e-4, 4e-4, 0.0, 0.999)
    assert optim.beta2_spade_code == 0.9


def test_bad_batches_and_modes_are_refused(batch):
    model = create_model("spade-mini", categories=CATS)
    with pytest.raises(ValueError, match="mode"):
        model(batch, "train")
    small = {k: v[..., :32, :64] for k, v in batch.items()}
    with pytest.raises(ValueError, match="built for"):
        model(small, "inference")


# --- timm-style: every mini generator -----------------------------------------------------------
@pytest.mark.parametrize("name,options", VARIANTS, ids=[f"{n}{o or ''}" for n, o in VARIANTS])
def test_forward_backward_every_parameter_gets_a_gradient(name, options, batch):
    torch.manual_seed(0)
    model = create_model(name, categories=CATS, **options).train()
    images = model(batch, "inference")
    assert images.shape == (2, 3, 64, 128) and torch.isfinite(images).all() and images.abs().max() <= 1
    g_losses = model(batch, "generator")
    assert set(g_losses) == {"gan", "feature_matching"} and not model.vgg_loss_enabled
    assert all(v.ndim == 0 and torch.isfinite(v) for v in g_losses.values())
    sum(g_losses.values()).backward()
    for pname, param in model.generator.named_parameters():
        assert param.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, f"{pname}: bad gradient"
    model.zero_grad()
    d_losses = model(batch, "discriminator")
    assert set(d_losses) == {"d_fake", "d_real"}
    sum(d_losses.values()).backward()
    for pname, param in model.discriminator.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all() and param.grad.abs().sum() > 0, pname
    assert all(p.grad is None for p in model.generator.parameters())  # the D step runs G without gradient


@pytest.mark.slow
@pytest.mark.parametrize("name", MINI)
def test_alternating_adam_steps_train_the_discriminator_and_move_the_generator(name, batch):
    """From chance (D's scores ~0 at SPADE's 0.02 init: hinge 1 + 1) the discriminator's loss falls
    within a few alternating steps, while the generator's output moves."""
    torch.manual_seed(0)
    model = create_model(name, categories=CATS).train()
    optim = model.default_optim
    opt_g = torch.optim.Adam(model.generator.parameters(), lr=optim.lr_generator, betas=(optim.beta1, optim.beta2))
    opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=optim.lr_discriminator,
                             betas=(optim.beta1, optim.beta2))
    before = model(batch, "inference")
    d_history = []
    for _ in range(GAN_STEPS):
        g_losses = model(batch, "generator")
        opt_g.zero_grad()
        sum(g_losses.values()).backward()
        opt_g.step()
        d_losses = model(batch, "discriminator")
        opt_d.zero_grad()
        sum(d_losses.values()).backward()
        opt_d.step()
        assert all(torch.isfinite(v) for v in {**g_losses, **d_losses}.values())
        d_history.append(sum(v.item() for v in d_losses.values()))
    after = model(batch, "inference")
    assert (after - before).abs().mean() > 1e-3
    assert d_history[0] == pytest.approx(2.0, abs=0.05)
    assert np.mean(d_history[-4:]) < d_history[0] - 0.08, d_history


# --- paper scale ----------------------------------------------------------------------------------
def test_paper_scale_generators_have_spades_published_sizes():
    """SPADE's generator has 93.0M parameters on Cityscapes (35 label ids + boundary), 97.5M on
    COCO-Stuff (182 + dontcare + boundary) and 96.5M on ADE20K (150 + dontcare, no instances), as
    tabulated by Tan et al. (CLADE, TPAMI 2021). The panoptic generator adds only the 1x1
    projections of the shared hole-filling encoder (paper §3.3)."""
    spade = create_model("spade", num_classes=35)
    with torch.device("meta"):  # built, not allocated
        panoptic = create_model("panoptic-spade", num_classes=35)
    assert spade.generator.start_size == (4, 8) and spade.image_size == (256, 512)
    assert n_params(spade.generator) / 1e6 == pytest.approx(93.0, abs=0.05)
    assert n_params(panoptic.generator) - n_params(spade.generator) == 1024 * (512 + 256 + 128) + 512 + 256 + 128
    assert n_params(spade.discriminator) == n_params(panoptic.discriminator)
    with torch.device("meta"):
        coco = create_model("spade", num_classes=182, dontcare_label=True, image_size=(256, 256),
                            num_upsampling_layers="normal")
        ade = create_model("spade", num_classes=150, dontcare_label=True, instance_edges=False,
                           image_size=(256, 256), num_upsampling_layers="normal")
        most = create_model("panoptic-spade", num_classes=35, num_upsampling_layers="most", image_size=(512, 1024))
    assert n_params(coco.generator) / 1e6 == pytest.approx(97.5, abs=0.05)
    assert n_params(ade.generator) / 1e6 == pytest.approx(96.5, abs=0.05)
    assert coco.generator.start_size == (8, 8) and most.generator.start_size == (4, 8)
    assert len(most.generator.upsamples) == 7 and most.generator.up_4.conv_1.out_channels == 32


# --- VGG-19 perceptual loss -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """Random weights in torchvision's vgg19 layout (the features; the classifier is optional)."""
    with torch.device("meta"):
        layout = vgg19(weights=None).state_dict()
    gen = torch.Generator().manual_seed(0)
    state = {k: torch.randn(v.shape, generator=gen) * (0.05 if k.endswith("weight") else 0.01)
             for k, v in layout.items() if k.startswith("features.")}
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(state, path)
    return path, state


def test_vgg_loss_equals_torchvisions_vgg19_slices_with_spades_weights(vgg_file):
    path, state = vgg_file
    with torch.device("meta"):
        reference = vgg19(weights=None).features
    reference = reference.to_empty(device="cpu")
    reference.load_state_dict({k.removeprefix("features."): v for k, v in state.items()})
    gen = torch.Generator().manual_seed(1)
    fake, real = torch.rand(2, 3, 32, 48, generator=gen) * 2 - 1, torch.rand(2, 3, 32, 48, generator=gen) * 2 - 1
    want = sum(w * (reference[:end](fake) - reference[:end](real)).abs().mean()
               for w, end in zip((1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0), (2, 7, 12, 21, 30)))  # relu1_1 .. relu5_1
    torch.testing.assert_close(VGGLoss(load_vgg19_features(path))(fake, real), want, atol=1e-5, rtol=1e-5)


def test_vgg_weights_option_turns_the_loss_on_outside_the_checkpoint(vgg_file, batch):
    path, _ = vgg_file
    small = {k: v[..., :32, :64] for k, v in batch.items()}
    torch.manual_seed(0)
    model = create_model("spade-mini", categories=CATS, image_size=(32, 64), vgg_weights=str(path))
    plain = create_model("spade-mini", categories=CATS, image_size=(32, 64))
    assert model.vgg_loss_enabled and not plain.vgg_loss_enabled
    assert set(model.state_dict()) == set(plain.state_dict()) and n_params(model) == n_params(plain)
    model.train().generate(small)  # one power iteration of the spectral norms, then frozen (eval): same fake twice
    model.eval()
    fake = model.generate(small)
    losses = model.generator_losses(small)
    torch.testing.assert_close(losses["vgg"], 10 * VGGLoss(load_vgg19_features(path))(fake, small["image"]))
    losses["vgg"].backward()
    assert model.generator.conv_img.weight.grad.abs().sum() > 0


def test_vgg_weights_file_problems_are_one_line_errors_naming_the_file(tmp_path, vgg_file):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    crafted = tmp_path / "crafted.pth"
    torch.save({"features.0.weight": Payload()}, crafted)
    with pytest.raises(WeightsError, match=r"crafted\.pth: (refused|not VGG-19 weights)"):
        load_vgg19_features(crafted)
    assert not marker.exists()
    with pytest.raises(WeightsError, match="absent.pth: VGG-19 weights file is missing"):
        create_model("spade-mini", categories=CATS, vgg_weights=str(tmp_path / "absent.pth"))
    _, state = vgg_file
    torch.save({**state, "features.0.weight": torch.zeros(64, 3, 5, 5)}, tmp_path / "wrong.pth")
    with pytest.raises(WeightsError, match="wrong.pth: .*wrong shape: 0.weight"):
        load_vgg19_features(tmp_path / "wrong.pth")
    torch.save({**state, "fc.weight": torch.zeros(1)}, tmp_path / "foreign.pth")
    with pytest.raises(WeightsError, match="foreign.pth: .*unexpected: fc.weight"):
        load_vgg19_features(tmp_path / "foreign.pth")
    missing = {k: v for k, v in state.items() if k != "features.34.bias"}
    torch.save(missing, tmp_path / "short.pth")
    with pytest.raises(WeightsError, match="short.pth: .*missing: 34.bias"):
        load_vgg19_features(tmp_path / "short.pth")
