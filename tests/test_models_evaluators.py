"""Evaluators of synthesised images: the paper-scale architectures have the key names and shapes of
the public weight files (listings transcribed from fyu/drn `segment.py` + `drn.py`,
kazuto1011/deeplab-pytorch `libs/models/{deeplabv2,resnet,msc}.py`, torchvision), load from a local
file strictly, refuse pickles and mismatches with one line; every mini evaluator trains (loss falls)
and follows torchvision's train / eval convention."""

from __future__ import annotations

import pytest
import torch

from evaluator_fixtures import constant_state_dict, falls, scene_batch, train_steps
from harness.models.evaluators import EVALUATORS, build_evaluator, infer_architecture, load_evaluator
from harness.weights import WeightsError

# fyu/drn DRNSeg('drn_d_105', 19): base = DRN-D children without avgpool / fc; Bottleneck [1,1,3,4,23,3,1,1];
# 108 convs + 108 BNs in base -> 108 + 4*108 = 540 keys, + seg.weight, seg.bias, up.weight = 543
# (+ 108 BN counters in a file saved by PyTorch >= 0.4.1); 54,302,915 parameters (up included).
DRN_D_105_KEYS = {
    "base.0.0.weight": (16, 3, 7, 7),
    "base.1.0.weight": (16, 16, 3, 3),
    "base.2.0.weight": (32, 16, 3, 3),
    "base.3.0.downsample.0.weight": (256, 32, 1, 1),
    "base.4.3.conv3.weight": (512, 128, 1, 1),
    "base.5.0.conv1.weight": (256, 512, 1, 1),
    "base.5.22.bn3.running_var": (1024,),
    "base.6.0.downsample.1.running_mean": (2048,),
    "base.7.0.weight": (512, 2048, 3, 3),
    "base.8.1.running_var": (512,),
    "seg.weight": (19, 512, 1, 1),
    "seg.bias": (19,),
    "up.weight": (19, 1, 16, 16),
}
# deeplab-pytorch MSC(DeepLabV2(182, [3,4,23,3], [6,12,18,24])): 104 _ConvBnReLU + 4 ASPP convs:
# 104*5 + 4*2 = 528 keys (+ 104 counters), 55,919,384 parameters.
DEEPLAB_KEYS = {
    "base.layer1.conv1.conv.weight": (64, 3, 7, 7),
    "base.layer1.conv1.bn.running_mean": (64,),
    "base.layer2.block1.shortcut.conv.weight": (256, 64, 1, 1),
    "base.layer3.block1.reduce.conv.weight": (128, 256, 1, 1),
    "base.layer4.block23.conv3x3.conv.weight": (256, 256, 3, 3),
    "base.layer5.block3.increase.bn.running_var": (2048,),
    "base.aspp.c0.weight": (182, 2048, 3, 3),
    "base.aspp.c3.bias": (182,),
}
# torchvision fasterrcnn_resnet50_fpn(num_classes=9): 295 keys besides the 53 BN counters, 41,388,156 parameters.
FASTERRCNN_KEYS = {
    "backbone.body.conv1.weight": (64, 3, 7, 7),
    "backbone.body.layer4.2.bn3.running_var": (2048,),
    "backbone.fpn.inner_blocks.0.0.weight": (256, 256, 1, 1),
    "rpn.head.cls_logits.weight": (3, 256, 1, 1),
    "roi_heads.box_head.fc6.weight": (1024, 256 * 7 * 7),
    "roi_heads.box_predictor.cls_score.weight": (9, 1024),
    "roi_heads.box_predictor.bbox_pred.weight": (36, 1024),
}
LISTINGS = [("drn-d-105", 19, DRN_D_105_KEYS, 543, 54_302_915),
            ("deeplabv2-r101", 182, DEEPLAB_KEYS, 528, 55_919_384),
            ("fasterrcnn-r50-fpn", 9, FASTERRCNN_KEYS, 295, 41_388_156)]


def meta_model(name, num_classes):
    with torch.device("meta"):
        return build_evaluator(name, num_classes=num_classes)


@pytest.mark.parametrize("name,num_classes,keys,count,params", LISTINGS, ids=[x[0] for x in LISTINGS])
def test_paper_architectures_have_the_public_files_keys(name, num_classes, keys, count, params):
    model = meta_model(name, num_classes)
    state = model.state_dict()
    for key, shape in keys.items():
        assert tuple(state[key].shape) == shape, key
    assert len([k for k in state if not k.endswith("num_batches_tracked")]) == count
    assert sum(p.numel() for p in model.parameters()) == params
    assert infer_architecture(state, "x.pth") == name


def test_dilations_strides_and_the_fixed_bilinear_upsampling():
    drn = build_evaluator("drn-d-105")
    assert [drn.base[5][0].conv2.dilation, drn.base[6][0].conv2.dilation, drn.base[7][0].dilation,
            drn.base[8][0].dilation] == [(2, 2), (4, 4), (2, 2), (1, 1)]
    assert drn.base[3][0].conv2.stride == (2, 2) and drn.base[5][0].conv2.stride == (1, 1)
    # fill_up_weights, 16x16 kernel: f = 8, c = 15/16, w[i, j] = (1 - |i/8 - c|)(1 - |j/8 - c|)
    assert drn.up.weight[3, 0, 0, 0].item() == pytest.approx((1 / 16) ** 2)
    assert drn.up.weight[0, 0, 7, 7].item() == pytest.approx((15 / 16) ** 2)
    assert drn.up.weight[5, 0, 0, 7].item() == pytest.approx((1 / 16) * (15 / 16))
    assert not drn.up.weight.requires_grad and (drn.up.stride, drn.up.padding, drn.up.groups) == ((8, 8), (4, 4), 19)
    deeplab = meta_model("deeplabv2-r101", 182)
    assert [getattr(deeplab.base.aspp, f"c{i}").dilation for i in range(4)] == [(6, 6), (12, 12), (18, 18), (24, 24)]
    assert deeplab.base.layer3.block1.reduce.conv.stride == (2, 2)  # MSRA: the stride on the 1x1
    assert deeplab.base.layer4.block1.conv3x3.conv.dilation == (2, 2)
    assert deeplab.base.layer5.block1.conv3x3.conv.dilation == (4, 4)
    assert deeplab.base.layer1.pool.ceil_mode and deeplab.scales == (0.5, 0.75)


@pytest.mark.slow
def test_paper_segmenters_output_full_resolution_logits():
    """DRN: 8x ConvTranspose of the stride-8 map; DeepLab: MSC max at stride 8 (65x97 -> 9x13 with
    the ceil-mode pool, as deeplab-pytorch), then bilinear to the input."""
    torch.manual_seed(0)
    images = torch.rand(1, 3, 65, 97)
    for name, classes in (("drn-d-105", 19), ("deeplabv2-r101", 182)):
        model = build_evaluator(name).eval()
        with torch.no_grad():
            assert model(images)["out"].shape == (1, classes, 65, 97)
    deeplab = build_evaluator("deeplabv2-r101").eval()
    with torch.no_grad():
        assert deeplab.base(deeplab.normalize(images)).shape == (1, 182, 9, 13)


@pytest.mark.parametrize("name,num_classes", [(x[0], x[1]) for x in LISTINGS], ids=[x[0] for x in LISTINGS])
def test_a_weights_file_loads_strictly_and_names_its_architecture(tmp_path, name, num_classes):
    state = constant_state_dict(meta_model(name, num_classes).to_empty(device="cpu"))
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # as an old PyTorch saved it
    torch.save(state, tmp_path / "w.pth")
    loaded = load_evaluator(tmp_path / "w.pth")
    assert (loaded.architecture, loaded.num_classes, loaded.model.training) == (name, num_classes, False)
    key = next(k for k in state if k.endswith("weight"))
    assert torch.equal(loaded.model.state_dict()[key], state[key])


def test_a_mismatched_file_is_one_line_naming_it_and_the_keys(tmp_path):
    state = constant_state_dict(build_evaluator("drn-d-mini"))
    broken = {("seg.kernel" if k == "seg.weight" else k): v for k, v in state.items() if k != "base.8.1.bias"}
    torch.save(broken, tmp_path / "broken.pth")
    (tmp_path / "broken.json").write_text('{"architecture": "drn-d-mini"}')
    with pytest.raises(WeightsError) as err:
        load_evaluator(tmp_path / "broken.pth")
    message = str(err.value)
    assert message.startswith(str(tmp_path / "broken.pth")) and "\n" not in message
    assert "not drn-d-mini weights: no seg.weight" in message
    state["base.8.1.bias"] = torch.zeros(3)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match=r"shape\.pth: .*nearest drn-d-mini: 1 wrong shape: base\.8\.1\.bias \(3,\)"):
        load_evaluator(tmp_path / "shape.pth")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match=r"other\.pth: not the weights of any evaluator"):
        load_evaluator(tmp_path / "other.pth")


def test_a_crafted_pickle_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"seg.weight": Payload()}, tmp_path / "evil.pth")
    with pytest.raises(WeightsError, match=r"evil\.pth: refused"):
        load_evaluator(tmp_path / "evil.pth")
    assert not marker.exists()
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match=r"junk\.pth: not segmenter weights: not a PyTorch tensor file"):
        load_evaluator(tmp_path / "junk.pth", "segmenter")


MINI = [name for name in EVALUATORS if name.endswith("-mini")]


@pytest.mark.parametrize("name", MINI)
def test_every_mini_evaluator_trains_on_street_scenes(name):
    images, targets = scene_batch(8)
    detector = EVALUATORS[name].kind == "detector"
    model = build_evaluator(name, num_classes=9 if detector else 19)
    losses = train_steps(model, images, targets, steps=25)
    assert falls(losses), losses
    model.eval()
    with torch.no_grad():
        out = model(images[:2])
    if detector:
        assert len(out) == 2 and set(out[0]) == {"boxes", "labels", "scores"}
    else:
        assert out["out"].shape == (2, 19, 64, 128)


def test_torchvisions_coco_file_loads_as_torchvisions_own_model_eps_included(tmp_path, monkeypatch):
    """The COCO_V1 Faster R-CNN equals `fasterrcnn_resnet50_fpn(weights=COCO_V1)` (torchvision's builder,
    which overwrites the frozen BatchNorm eps with 0.0) on the same random state dict, to the bit."""
    import torchvision.models._api as torchvision_api
    from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights, fasterrcnn_resnet50_fpn
    from torchvision.ops.misc import FrozenBatchNorm2d

    from harness.models.evaluators.detector import COCO_V1_FILE, fasterrcnn_r50_fpn_published

    torch.manual_seed(0)
    state = fasterrcnn_r50_fpn_published(num_classes=91, eps=0.0).state_dict()
    for key, value in state.items():  # small running variances (where eps 1e-5 against 0.0 shows),
        if key.endswith("running_var"):  # scales that keep the activations finite
            value.uniform_(1e-4, 1e-3)
            state[key[: -len("running_var")] + "weight"].copy_(value.sqrt() * torch.empty_like(value).uniform_(0.5, 1))
        elif key.endswith("running_mean"):
            value.normal_(0, 0.1)
    assert COCO_V1_FILE == "fasterrcnn_resnet50_fpn_coco-258fb6c6.pth"
    torch.save(state, tmp_path / COCO_V1_FILE)
    fetched = []  # torchvision's download, answered with the same file: nothing leaves this machine
    monkeypatch.setattr(torchvision_api, "load_state_dict_from_url",
                        lambda url, *a, **k: fetched.append(url) or torch.load(tmp_path / COCO_V1_FILE))
    official = fasterrcnn_resnet50_fpn(weights=FasterRCNN_ResNet50_FPN_Weights.COCO_V1).eval()
    assert [u.rsplit("/", 1)[1] for u in fetched] == [COCO_V1_FILE]
    loaded = load_evaluator(tmp_path / COCO_V1_FILE, "detector")
    assert loaded.architecture == "fasterrcnn-r50-fpn"
    frozen = [m for m in loaded.model.modules() if isinstance(m, FrozenBatchNorm2d)]
    assert len(frozen) == 53 and {m.eps for m in frozen} == {0.0}
    assert repr(loaded.model) == repr(official)
    for key, value in official.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value), key
    image = [torch.rand(3, 96, 128, generator=torch.Generator().manual_seed(1))]
    for model in (official, loaded.model):
        model.transform.min_size, model.transform.max_size = (96,), 128  # small and CPU-fast, same for both
    with torch.no_grad():
        ours, theirs = loaded.model.backbone(image[0][None]), official.backbone(image[0][None])
        for name in theirs:
            assert torch.isfinite(theirs[name]).all() and torch.equal(ours[name], theirs[name]), name
        assert all(torch.equal(a[k], b[k]) for a, b in zip(loaded.model(image), official(image)) for k in a)
        torch.save(state, tmp_path / "renamed.pth")  # any other file: torchvision's default eps 1e-5 ...
        other = load_evaluator(tmp_path / "renamed.pth", "detector").model
        assert not torch.equal(other.backbone(image[0][None])["0"], theirs["0"])  # ... which differs visibly
