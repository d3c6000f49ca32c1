"""The parameter-free parts on hand-made tensors: pasting mask logits, UPSNet's panoptic logits and
test-time instance selection, the SSS heuristic fusion, and composing segment ids."""

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

from harness.models.compose import compose_panoptic
from harness.models.heuristic_fusion import fuse_instances
from harness.models.panoptic_rcnn import dense_targets, ohem_cross_entropy
from harness.models.paste import box_masks, paste_logits
from harness.models.upsnet_panoptic_head import (panoptic_logits, panoptic_training_target, resolve_semantic_conflicts,
                                                 select_instances)


def linear_mask(m: int = 28) -> torch.Tensor:
    """A mask that bilinear interpolation reproduces exactly (away from the clamped border)."""
    j = torch.arange(m, dtype=torch.float32)
    return (0.3 * j[:, None] - 0.2 * j[None, :] + 1.0)[None]


def test_paste_inverts_torchvisions_mask_target_projection():
    """torchvision makes mask targets with roi_align(aligned=False); RoIAlign of the pasted logits
    over the same box must give the logits back (interior cells; linear, so exactly)."""
    mask, box = linear_mask(), torch.tensor([[10.0, 6.0, 66.0, 62.0]])  # 2 px per mask cell
    pasted = paste_logits(mask, box, 72, 80)
    back = roi_align(pasted[:, None], [box], output_size=28, spatial_scale=1.0, sampling_ratio=2, aligned=False)[0, 0]
    torch.testing.assert_close(back[1:-1, 1:-1], mask[0, 1:-1, 1:-1], atol=1e-4, rtol=0)
    assert (pasted[0, :6] == 0).all() and (pasted[0, :, 66:] == 0).all()


def test_paste_on_a_stride_4_grid_samples_the_centre_of_each_cell():
    mask, box = linear_mask(), torch.tensor([[8.0, 8.0, 120.0, 120.0]])
    full = paste_logits(mask, box, 128, 128)
    coarse = paste_logits(mask, box, 32, 32, stride=4)
    centre = (full[0, 1::4] + full[0, 2::4])[:, 1::4] / 4 + (full[0, 1::4] + full[0, 2::4])[:, 2::4] / 4
    torch.testing.assert_close(coarse[0, 4:28, 4:28], centre[4:28, 4:28], atol=1e-4, rtol=0)
    assert box_masks(box, 32, 32, stride=4)[0].sum() == 28 * 28  # cells 2..29: centres 9.5..117.5


def test_paste_is_differentiable_and_empty_safe():
    logits = torch.randn(3, 7, 7, requires_grad=True)
    paste_logits(logits, torch.tensor([[0.0, 0, 4, 4], [2, 2, 9, 5], [1, 1, 2, 2]]), 6, 10).sum().backward()
    assert logits.grad.abs().sum() > 0
    assert paste_logits(torch.zeros(0, 7, 7), torch.zeros(0, 4), 6, 10).shape == (0, 6, 10)


def test_upsnet_panoptic_logits_by_hand():
    # classes: stuff A (train id 0), things B (1) and C (2); one B instance in box x in [0, 3)
    h, w = 2, 6
    semantic = torch.stack([torch.full((h, w), 1.0), torch.full((h, w), 2.0), torch.zeros(h, w)])
    box = torch.tensor([[0.0, 0.0, 3.0, 2.0]])
    mask = torch.zeros(1, h, w)
    mask[0, :, :2], mask[0, :, 2] = 1.0, -5.0
    z = panoptic_logits(semantic, mask, box, torch.tensor([1]), torch.tensor([0]), torch.tensor([1, 2]), with_unknown=True)
    assert z.shape == (3, h, w)
    # stuff channel = X_A; instance = X_B inside the box + mask logits (0 outside);
    # unknown = max(X_B, X_C) - max_i Y_i = 2 - 2 inside the box, 2 - 0 outside
    assert z[0].tolist() == [[1.0] * 6] * 2
    assert z[1].tolist() == [[3.0, 3.0, -3.0, 0.0, 0.0, 0.0]] * 2
    assert z[2].tolist() == [[0.0, 0.0, 0.0, 2.0, 2.0, 2.0]] * 2
    assert z.argmax(0)[0].tolist() == [1, 1, 0, 2, 2, 2]  # instance, stuff, unknown
    no_instance = panoptic_logits(semantic, torch.zeros(0, h, w), torch.zeros(0, 4), torch.zeros(0, dtype=torch.long),
                                  torch.tensor([0]), torch.tensor([1, 2]), with_unknown=True)
    assert no_instance.shape == (2, h, w) and (no_instance[1] == 2).all()


def test_panoptic_training_target_reindexes_kept_and_marks_dropped_unknown():
    target = torch.tensor([[0, 1, 2, 3, 255]])  # stuff 0, instances 0..2 at 1..3 (S = 1)
    out = panoptic_training_target(target, torch.tensor([0, 2]), num_stuff=1, num_instances=3)
    assert out.tolist() == [[0, 1, 3, 2, 255]]  # kept 0 -> 1, kept 2 -> 2, dropped 1 -> unknown 3


def test_select_instances_applies_score_nms_and_same_class_overlap():
    boxes = torch.tensor([[0.0, 0, 4, 4], [0, 0, 4, 4.2], [0, 0, 8, 4], [2, 0, 6, 4], [4, 0, 8, 4]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.3])
    labels = torch.tensor([1, 1, 1, 2, 1])
    masks = box_masks(boxes, 4, 8)
    keep = select_instances(boxes, scores, labels, masks, score_thresh=0.5, nms_thresh=0.5, max_overlap=0.3)
    # 1: NMS (IoU 0.95 with 0); 2: IoU 0.5 passes NMS but half of its mask lies under 0, same class ->
    # removed; 3: half under 0 too, but another class -> kept; 4: score below threshold
    assert keep.tolist() == [0, 3]


def test_heuristic_fusion_by_score_with_overlap_rule():
    masks = torch.zeros(4, 2, 6, dtype=torch.bool)
    masks[0, :, 0:3] = True  # score 0.6
    masks[1, :, 2:6] = True  # score 0.9: claims cols 2-5 first
    masks[2, :, 1:4] = True  # score 0.8: 2/3 taken -> dropped
    masks[3, :, 0:1] = True  # score 0.4: below threshold
    owner = fuse_instances(masks, torch.tensor([0.6, 0.9, 0.8, 0.4]), score_thresh=0.5, overlap_thresh=0.5)
    assert owner[0].tolist() == [0, 0, 1, 1, 1, 1]


def test_compose_ids_segments_and_small_stuff_rule():
    instance_map = torch.tensor([[-1, -1, 0, 0, 1, -1]])
    stuff_map = torch.tensor([[0, 0, 0, 1, -1, 1]])  # train ids; 1 covers 1 free pixel only
    panoptic, segments = compose_panoptic(
        instance_map, stuff_map, torch.full((1, 6), 0.5), instance_category_ids=torch.tensor([26, 24]),
        instance_scores=torch.tensor([0.9, 0.7]), category_ids=(7, 23, 24, 26), stuff_area_limit=2)
    assert panoptic.tolist() == [[7000, 7000, 26001, 26001, 24002, 0]]
    assert segments == [
        {"id": 7000, "category_id": 7, "isthing": False, "score": 0.5},
        {"id": 26001, "category_id": 26, "isthing": True, "score": pytest.approx(0.9)},
        {"id": 24002, "category_id": 24, "isthing": True, "score": pytest.approx(0.7)}]


def test_ohem_keeps_the_hardest_fraction_of_valid_pixels_per_image():
    logits = torch.tensor([[[[2.0, 0.0, -1.0, 5.0]], [[0.0, 0.0, 1.0, 0.0]]]])  # (1, 2 classes, 1, 4)
    target = torch.tensor([[[0, 0, 0, 255]]])
    per_pixel = F.cross_entropy(logits, target, ignore_index=255, reduction="none")[0, 0, :3]
    hardest_two = per_pixel.sort(descending=True).values[:2].mean()  # ceil(0.5 * 3 valid) = 2 pixels
    torch.testing.assert_close(ohem_cross_entropy(logits, target, 0.5), hardest_two)
    assert ohem_cross_entropy(logits, torch.full_like(target, 255), 0.5) == 0


def test_dense_targets_follow_the_resize_and_pad_with_ignore():
    batch = dense_targets([torch.tensor([[1, 2], [3, 4]]), torch.tensor([[5]])], [(4, 4), (1, 1)], torch.Size((4, 6)))
    assert batch[0].tolist() == [[1, 1, 2, 2, 255, 255], [1, 1, 2, 2, 255, 255],
                                 [3, 3, 4, 4, 255, 255], [3, 3, 4, 4, 255, 255]]
    assert batch[1, 0, 0] == 5 and (batch[1].flatten()[1:] == 255).all()


def test_semantic_conflicts_turn_an_instance_into_the_stuff_under_it():
    # classes: road 0 (stuff), sky 1 (stuff), car 2 (thing); three car instances
    semantic = torch.tensor([[2, 2, 0, 0, 0, 1, 1, 2]])
    instance_map = torch.tensor([[0, 0, 1, 1, 1, 2, 2, 2]])
    # 0: all car -> stays; 1: all road -> road; 2: sky 2/3 -> sky
    out_instances, out_stuff = resolve_semantic_conflicts(
        instance_map, torch.full_like(instance_map, -1), semantic, torch.tensor([2, 2, 2]), torch.tensor([0, 1]),
        num_classes=3)
    assert out_instances.tolist() == [[0, 0, -1, -1, -1, -1, -1, -1]]
    assert out_stuff.tolist() == [[-1, -1, 0, 0, 0, 1, 1, 1]]
    semantic[0, 6] = 2  # instance 2: sky 1/3, car 2/3 -> stays
    out_instances, _ = resolve_semantic_conflicts(
        instance_map, torch.full_like(instance_map, -1), semantic, torch.tensor([2, 2, 2]), torch.tensor([0, 1]),
        num_classes=3)
    assert out_instances[0, 5:].tolist() == [2, 2, 2]


@pytest.mark.parametrize("shape,window", [((2, 3, 32, 64), (16, 16)), ((1, 2, 16, 32), (16, 16)),
                                          ((1, 1, 7, 5), (3, 4)), ((1, 2, 64, 128), (64, 64))])
def test_box_mean_equals_avg_pool_forward_and_backward(shape, window):
    """SSS's moving average by running sums (harness.models.semantic_heads.box_mean) against avg_pool2d."""
    from harness.models.semantic_heads import box_mean

    x = torch.randn(shape, generator=torch.Generator().manual_seed(0), requires_grad=True)
    weights = torch.randn_like(F.avg_pool2d(x, window, stride=1))
    ours = box_mean(x, *window)
    reference = F.avg_pool2d(x, window, stride=1)
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=1e-5)
    grad, = torch.autograd.grad((ours * weights).sum(), x)
    grad_reference, = torch.autograd.grad((reference * weights).sum(), x)
    torch.testing.assert_close(grad, grad_reference, atol=1e-6, rtol=1e-5)
