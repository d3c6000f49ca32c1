"""Panoptic-aware convolution and upsampling against naive loop references written from the paper's
Eq. 1-2 and Algorithm 1 (float64, 1e-6), on random maps and hand-made cases."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from harness.models.panoptic_layers import (
    METHODS, UPSAMPLE_CANDIDATES, PanopticConv2d, PanopticUpsample, first_matching_candidate, panoptic_conv2d,
    panoptic_upsample,
)

DT = torch.float64


def naive_panoptic_conv(x, ids, weight, bias, stride=1, padding=0, dilation=1):
    """Eq. 2 window by window: the pixels of the centre's id inside the image, summed, times
    k²/sum(M), plus b; 0 for an empty window."""
    n, _, h, w = x.shape
    c_out, _, k, _ = weight.shape
    ho = (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    wo = (w + 2 * padding - dilation * (k - 1) - 1) // stride + 1
    out = torch.zeros(n, c_out, ho, wo, dtype=x.dtype)

    def inside(r, c):
        return 0 <= r < h and 0 <= c < w

    for b in range(n):
        for r in range(ho):
            for c in range(wo):
                top, left = r * stride - padding, c * stride - padding
                cr, cc = top + (k // 2) * dilation, left + (k // 2) * dilation
                if not inside(cr, cc):
                    continue
                acc, count = torch.zeros(c_out, dtype=x.dtype), 0
                for i in range(k):
                    for j in range(k):
                        qr, qc = top + i * dilation, left + j * dilation
                        if inside(qr, qc) and ids[b, qr, qc] == ids[b, cr, cc]:
                            acc += weight[:, :, i, j] @ x[b, :, qr, qc]
                            count += 1
                if count:
                    out[b, :, r, c] = acc * (k * k) / count + (bias if bias is not None else 0)
    return out


def naive_upsample(features, low, high):
    """Algorithm 1 as printed, in its own coordinates: P[i, j] with i along the width (column) and
    j along the height (row); four passes, each filling only pixels not yet aligned."""
    n, ch, h, w = features.shape
    out = torch.zeros(n, ch, 2 * h, 2 * w, dtype=features.dtype)
    aligned = torch.zeros(n, 1, 2 * h, 2 * w, dtype=features.dtype)

    def p_low(b, i, j):  # paper P^d[i, j] = column i, row j; outside the map -> no match
        return low[b, j, i].item() if 0 <= i < w and 0 <= j < h else None

    passes = [lambda i, j: (i // 2, j // 2), lambda i, j: (i // 2 + 1, j // 2),
              lambda i, j: (i // 2, j // 2 + 1), lambda i, j: (i // 2 + 1, j // 2 + 1)]
    for source in passes:
        for b in range(n):
            for i in range(2 * w):
                for j in range(2 * h):
                    si, sj = source(i, j)
                    if aligned[b, 0, j, i] != 1 and p_low(b, si, sj) == high[b, j, i].item():
                        out[b, :, j, i] = features[b, :, sj, si]
                        aligned[b, 0, j, i] = 1
    return out, aligned


def random_ids(gen, shape, n_ids=3):
    return torch.randint(0, n_ids, shape, generator=gen)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("k,stride,padding,dilation", [
    (3, 1, 1, 1), (3, 2, 1, 1), (5, 1, 2, 1), (3, 1, 2, 2), (3, 1, 0, 1), (1, 1, 0, 1), (3, 2, 0, 1), (3, 1, 2, 1),
])
def test_panoptic_conv_equals_the_loop_reference_on_random_maps(k, stride, padding, dilation, method):
    gen = torch.Generator().manual_seed(k * 100 + stride * 10 + padding + dilation)
    x = torch.randn(2, 3, 7, 9, generator=gen, dtype=DT)
    ids = random_ids(gen, (2, 7, 9))
    weight = torch.randn(4, 3, k, k, generator=gen, dtype=DT)
    bias = torch.randn(4, generator=gen, dtype=DT)
    got = panoptic_conv2d(x, ids, weight, bias, stride, padding, dilation, method=method)
    want = naive_panoptic_conv(x, ids, weight, bias, stride, padding, dilation)
    assert got.shape == want.shape == F.conv2d(x, weight, bias, stride, padding, dilation).shape
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-6)


def test_auto_takes_the_sparse_path_on_few_boundaries_and_the_dense_one_on_many():
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(1, 2, 12, 12, generator=gen, dtype=DT)
    weight = torch.randn(3, 2, 3, 3, generator=gen, dtype=DT)
    halves = torch.zeros(1, 12, 12, dtype=torch.long)
    halves[..., 6:] = 1
    checker = (torch.arange(12)[:, None] + torch.arange(12)[None]).remainder(2).unsqueeze(0)
    for ids in (halves, checker):  # 24 mismatched pairs of 144 pixels; 8 per pixel
        torch.testing.assert_close(panoptic_conv2d(x, ids, weight, None, padding=1),
                                   naive_panoptic_conv(x, ids, weight, None, padding=1), atol=1e-6, rtol=1e-6)


def test_one_id_is_nn_conv2d_inside_the_image_and_rescaled_at_the_border():
    gen = torch.Generator().manual_seed(1)
    conv = torch.nn.Conv2d(3, 5, 3, padding=1).to(DT)
    layer = PanopticConv2d(3, 5, 3, padding=1).to(DT)
    layer.load_state_dict(conv.state_dict())
    x = torch.randn(1, 3, 6, 8, generator=gen, dtype=DT)
    ids = torch.full((1, 6, 8), 42)
    got, plain = layer(x, ids), conv(x)
    torch.testing.assert_close(got[..., 1:-1, 1:-1], plain[..., 1:-1, 1:-1], atol=1e-12, rtol=0)
    # border windows: zero padding gives conv's sum; the mask counts 6 (edges) or 4 (corners) of 9
    b = conv.bias.view(1, -1)
    torch.testing.assert_close(got[..., 0, 0], (plain[..., 0, 0] - b) * 9 / 4 + b)
    torch.testing.assert_close(got[..., 0, 3], (plain[..., 0, 3] - b) * 9 / 6 + b)
    torch.testing.assert_close(got[..., 3, -1], (plain[..., 3, -1] - b) * 9 / 6 + b)


def test_two_segments_do_not_see_each_other_and_stride_2_takes_strided_centres():
    """A left and a right segment: every output depends only on its own segment's pixels; with
    stride 2 the centres are the even pixels (outputs equal the stride-1 outputs subsampled)."""
    gen = torch.Generator().manual_seed(2)
    ids = torch.zeros(1, 6, 8, dtype=torch.long)
    ids[..., 4:] = 7
    x = torch.randn(1, 2, 6, 8, generator=gen, dtype=DT)
    weight = torch.randn(3, 2, 3, 3, generator=gen, dtype=DT)
    base = panoptic_conv2d(x, ids, weight, None, padding=1)
    x_changed = x.clone()
    x_changed[..., 4:] += 100.0  # only the right segment changes
    moved = panoptic_conv2d(x_changed, ids, weight, None, padding=1)
    torch.testing.assert_close(moved[..., :4], base[..., :4])
    assert (moved[..., 4:] - base[..., 4:]).abs().min() > 0
    strided = panoptic_conv2d(x, ids, weight, None, stride=2, padding=1)
    assert strided.shape == (1, 3, 3, 4)
    torch.testing.assert_close(strided, base[..., ::2, ::2])


def test_a_window_whose_centre_is_outside_the_image_is_zero_bias_included():
    x = torch.randn(1, 2, 4, 4, dtype=DT)
    out = panoptic_conv2d(x, torch.zeros(1, 4, 4, dtype=torch.long), torch.randn(3, 2, 3, 3, dtype=DT),
                          torch.ones(3, dtype=DT), padding=2)
    assert out.shape == (1, 3, 6, 6)
    assert (out[..., 0, :] == 0).all() and (out[..., :, -1] == 0).all()
    assert (out[..., 1:-1, 1:-1] != 0).all()


def test_gradcheck_panoptic_conv():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, 4, 5, generator=gen, dtype=DT, requires_grad=True)
    weight = torch.randn(2, 2, 3, 3, generator=gen, dtype=DT, requires_grad=True)
    bias = torch.randn(2, generator=gen, dtype=DT, requires_grad=True)
    ids = random_ids(gen, (1, 4, 5))
    for stride in (1, 2):
        for method in ("sparse", "dense"):
            assert torch.autograd.gradcheck(lambda a, w, b: panoptic_conv2d(a, ids, w, b, stride, 1, method=method),
                                            (x, weight, bias), fast_mode=True)


def test_spectral_norm_wraps_the_layer_like_nn_conv2d():
    layer = torch.nn.utils.spectral_norm(PanopticConv2d(4, 6, 3, padding=1))
    assert layer.weight_orig.shape == (6, 4, 3, 3) and layer.bias.shape == (6,)
    out = layer(torch.randn(2, 4, 8, 8), torch.zeros(2, 8, 8, dtype=torch.long))
    out.sum().backward()
    assert out.shape == (2, 6, 8, 8) and layer.weight_orig.grad is not None


@pytest.mark.parametrize("method", ["sparse", "dense"])
def test_autograd_keeps_the_features_once_not_k_squared_copies(method):
    x = torch.randn(1, 16, 32, 32, requires_grad=True)
    weight = torch.randn(16, 16, 3, 3, requires_grad=True)
    ids = (torch.arange(32)[:, None] // 16 + torch.arange(32)[None] // 16).unsqueeze(0)  # three segments
    saved: dict[int, int] = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        panoptic_conv2d(x, ids, weight, None, padding=1, method=method)
    feature_bytes = x.numel() * x.element_size()
    assert sum(saved.values()) < 2 * feature_bytes  # features (+ boundary rows) and masks; unfolding keeps 9x


def test_rejects_an_id_map_of_another_size_and_even_kernels():
    with pytest.raises(ValueError, match="id map"):
        PanopticConv2d(2, 2, 3, padding=1)(torch.randn(1, 2, 4, 4), torch.zeros(1, 4, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="odd"):
        PanopticConv2d(2, 2, 4)


# --- upsampling ---------------------------------------------------------------------------------
def test_candidate_order_is_algorithm_1_read_with_i_along_the_width():
    assert UPSAMPLE_CANDIDATES == ((0, 0), (0, 1), (1, 0), (1, 1))


@pytest.mark.parametrize("seed", range(4))
def test_panoptic_upsample_equals_the_loop_reference_on_random_maps(seed):
    gen = torch.Generator().manual_seed(seed)
    low = random_ids(gen, (2, 4, 5))
    high = random_ids(gen, (2, 8, 10))
    features = torch.randn(2, 3, 4, 5, generator=gen, dtype=DT)
    got, aligned = panoptic_upsample(features, low, high)
    want, want_aligned = naive_upsample(features, low, high)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
    torch.testing.assert_close(aligned, want_aligned)
    assert 0 < aligned.mean() < 1  # both matched pixels and holes occur


def test_first_match_wins_in_order_and_holes_are_zero():
    # low-resolution ids and one distinct feature per low pixel (its own flat index)
    low = torch.tensor([[[1, 2], [2, 2]]])
    features = torch.arange(4, dtype=DT).view(1, 1, 2, 2)
    high = torch.full((1, 4, 4), 9)
    high[0, 0, 0] = 2  # parent (0,0) is 1; right (0,1), below (1,0) and diagonal all 2 -> right wins
    high[0, 1, 1] = 1  # parent matches
    low2 = torch.tensor([[[1, 3], [2, 2]]])
    high2 = torch.full((1, 4, 4), 9)
    high2[0, 0, 0] = 2  # right is 3: below (1,0) wins over the diagonal
    out, aligned = panoptic_upsample(features, low, high)
    assert out[0, 0, 0, 0] == 1 and out[0, 0, 1, 1] == 0 and aligned[0, 0, 1, 1] == 1
    assert aligned[0, 0, 0, 1] == 0 and out[0, 0, 0, 1] == 0  # id 9 matches nothing: a hole, 0
    out2, _ = panoptic_upsample(features, low2, high2)
    assert out2[0, 0, 0, 0] == 2
    assert first_matching_candidate(low, high)[0, 0, 0] == 1 and first_matching_candidate(low2, high2)[0, 0, 0] == 2


def test_candidates_outside_the_low_map_are_skipped_not_wrapped():
    low = torch.tensor([[[1, 2], [3, 4]]])
    features = torch.arange(4, dtype=DT).view(1, 1, 2, 2) + 1  # feature = flat index + 1
    high = torch.zeros(1, 4, 4, dtype=torch.long)
    high[0, 0, 3] = 3  # parent (0,1)=2, right outside, below (1,1)=4: a row-major wrap of "right" hits (1,0)=3
    high[0, 3, 0] = 2  # parent (1,0)=3, right (1,1)=4, below outside: a wrap to row 0 would find 2
    high[0, 1, 3] = 4  # the inside candidate of an edge pixel still counts: below (1,1)=4
    out, aligned = panoptic_upsample(features, low, high)
    assert aligned[0, 0, 0, 3] == 0 and out[0, 0, 0, 3] == 0
    assert aligned[0, 0, 3, 0] == 0 and out[0, 0, 3, 0] == 0
    assert aligned[0, 0, 1, 3] == 1 and out[0, 0, 1, 3] == 4


def test_with_the_nearest_upsampled_map_it_is_nearest_upsampling():
    gen = torch.Generator().manual_seed(5)
    low = random_ids(gen, (1, 5, 6), n_ids=4)
    high = low.repeat_interleave(2, 1).repeat_interleave(2, 2)
    features = torch.randn(1, 3, 5, 6, generator=gen)
    out, aligned = panoptic_upsample(features, low, high)
    torch.testing.assert_close(out, F.interpolate(features, scale_factor=2, mode="nearest"))
    assert (aligned == 1).all()


def test_gradcheck_panoptic_upsample():
    gen = torch.Generator().manual_seed(6)
    low, high = random_ids(gen, (1, 3, 4)), random_ids(gen, (1, 6, 8))
    features = torch.randn(1, 2, 3, 4, generator=gen, dtype=DT, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: panoptic_upsample(f, low, high)[0], (features,))


@pytest.mark.parametrize("out_channels", [8, 3])
def test_hole_filling_only_where_unaligned_and_the_composed_encoder_is_exact(out_channels):
    gen = torch.Generator().manual_seed(7)
    encoder = PanopticConv2d(4, 8, 3, padding=1).to(DT)
    stage = PanopticUpsample(encoder_channels=8, out_channels=out_channels).to(DT)
    low, high = random_ids(gen, (2, 3, 4)), random_ids(gen, (2, 6, 8))
    label = F.one_hot(random_ids(gen, (2, 6, 8), n_ids=4), 4).permute(0, 3, 1, 2).to(DT)
    features = torch.randn(2, out_channels, 3, 4, generator=gen, dtype=DT)
    out = stage(features, low, high, label, encoder)
    upsampled, aligned = panoptic_upsample(features, low, high)
    # reference: the encoder's 8 channels at full resolution, then the stage's 1x1 convolution
    encoded = naive_panoptic_conv(label, high, encoder.weight.detach(), encoder.bias.detach(), padding=1)
    hole = encoded if stage.proj is None else stage.proj(encoded)
    keep = aligned.bool().expand_as(out)
    torch.testing.assert_close(out[keep], upsampled[keep])
    torch.testing.assert_close(out[~keep], hole.detach()[~keep], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(stage.hole_features(label, high, encoder), hole, atol=1e-6, rtol=1e-6)
