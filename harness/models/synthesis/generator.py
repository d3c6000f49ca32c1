"""The SPADE generator (NVlabs/SPADE `generator.py` SPADEGenerator, `architecture.py`
SPADEResnetBlock) and, behind two switches, the panoptic-aware generator of Dundar et al. (Fig. 5,
§3.3): `panoptic_conv` makes the first layer and every residual-block 3x3 convolution a
PanopticConv2d guided by the panoptic map at that scale; `panoptic_upsample` makes every
upsampling a PanopticUpsample whose holes come from the first layer, shared by every stage. Both
off is SPADE; the label input (SPADE's modulation input: one-hot semantic map [+ dontcare channel]
[+ boundary channel]) is the same in every variant and also feeds the first layer, so the
ablation's rows (Table 4) differ only by the two layers. With `instance_edges=false` the first
layer encodes exactly the paper's #classes semantic map.

Module names follow SPADE's (fc, head_0, G_middle_0/1, up_0..up_4, conv_img; norm_0/1/s with
mlp_shared/mlp_gamma/mlp_beta), so SPADE's state-dict keys carry over."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from harness.models.panoptic_layers import PanopticConv2d, PanopticUpsample
from harness.models.synthesis.label_maps import resize_nearest
from harness.models.synthesis.spade_norm import SPADE

UPSAMPLING_LAYERS = {"normal": 5, "more": 6, "most": 7}  # SPADE's --num_upsampling_layers
LEAK = 0.2


class SPADEResnetBlock(nn.Module):
    """SPADE -> leaky ReLU -> 3x3 conv, twice, plus a learned 1x1 shortcut (SPADE + conv, no bias)
    when the width changes; spectral norm on all three convolutions. With `panoptic_conv` the two
    3x3 convolutions are panoptic-aware. The 1x1 shortcut stays nn.Conv2d: a 1x1 window holds only
    its centre, so its panoptic-aware version is the same map."""

    def __init__(self, fin: int, fout: int, label_channels: int, *, spade_hidden: int = 128,
                 panoptic_conv: bool = False):
        super().__init__()
        self.learned_shortcut = fin != fout
        self.panoptic_conv = panoptic_conv
        fmiddle = min(fin, fout)
        conv = PanopticConv2d if panoptic_conv else nn.Conv2d
        self.conv_0 = spectral_norm(conv(fin, fmiddle, 3, padding=1))
        self.conv_1 = spectral_norm(conv(fmiddle, fout, 3, padding=1))
        self.norm_0 = SPADE(fin, label_channels, hidden=spade_hidden)
        self.norm_1 = SPADE(fmiddle, label_channels, hidden=spade_hidden)
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, 1, bias=False))
            self.norm_s = SPADE(fin, label_channels, hidden=spade_hidden)

    def _conv(self, conv: nn.Module, x: torch.Tensor, panoptic: torch.Tensor) -> torch.Tensor:
        return conv(x, panoptic) if self.panoptic_conv else conv(x)

    def forward(self, x: torch.Tensor, label: torch.Tensor, panoptic: torch.Tensor) -> torch.Tensor:
        """x (N, fin, H, W); label and panoptic at (H, W) -> (N, fout, H, W)."""
        shortcut = self.conv_s(self.norm_s(x, label)) if self.learned_shortcut else x
        dx = self._conv(self.conv_0, F.leaky_relu(self.norm_0(x, label), LEAK), panoptic)
        dx = self._conv(self.conv_1, F.leaky_relu(self.norm_1(dx, label), LEAK), panoptic)
        return shortcut + dx


class SPADEGenerator(nn.Module):
    """fc (3x3 conv of the label map nearest-downsampled to the start size) -> head_0 -> up ->
    G_middle_0 -> [up: 'more'/'most'] -> G_middle_1 -> up -> up_0 -> up -> up_1 -> up -> up_2 -> up
    -> up_3 [-> up -> up_4: 'most'] -> leaky ReLU -> 3x3 conv to RGB -> tanh. Widths 16·ngf at the
    start, halving from up_0 on to ngf (ngf/2 after up_4). `image_size` (H, W) fixes the start size
    (H, W) / 2^n, n = 5, 6, 7 upsamplings, as SPADE's crop size and aspect ratio do."""

    def __init__(self, label_channels: int, *, image_size: tuple[int, int], ngf: int = 64,
                 num_upsampling_layers: str = "normal", spade_hidden: int = 128, panoptic_conv: bool = False,
                 panoptic_upsample: bool = False):
        super().__init__()
        if num_upsampling_layers not in UPSAMPLING_LAYERS:
            raise ValueError(f"num_upsampling_layers {num_upsampling_layers!r} is not one of {tuple(UPSAMPLING_LAYERS)}")
        n_up = UPSAMPLING_LAYERS[num_upsampling_layers]
        h, w = image_size
        if h % 2 ** n_up or w % 2 ** n_up:
            raise ValueError(f"image_size {tuple(image_size)} must be divisible by 2^{n_up} "
                             f"({num_upsampling_layers!r} upsampling)")
        self.image_size = (h, w)
        self.start_size = (h // 2 ** n_up, w // 2 ** n_up)
        self.num_upsampling_layers = num_upsampling_layers
        self.panoptic_conv, self.panoptic_upsample = panoptic_conv, panoptic_upsample
        nf = ngf
        # the first layer; with panoptic upsampling it is also every stage's hole-filling encoder (§3.3)
        first = PanopticConv2d if (panoptic_conv or panoptic_upsample) else nn.Conv2d
        self.fc = first(label_channels, 16 * nf, 3, padding=1)

        def block(fin: int, fout: int) -> SPADEResnetBlock:
            return SPADEResnetBlock(fin, fout, label_channels, spade_hidden=spade_hidden, panoptic_conv=panoptic_conv)

        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, 1 * nf)
        final_nc = nf
        if num_upsampling_layers == "most":
            self.up_4 = block(1 * nf, nf // 2)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)
        # the width entering each upsampling, in order
        widths = [16 * nf] * (2 if n_up == 5 else 3) + [8 * nf, 4 * nf, 2 * nf] + ([nf] if n_up == 7 else [])
        self.upsamples = nn.ModuleList(PanopticUpsample(16 * nf, c) for c in widths) if panoptic_upsample else None

    def _first(self, label: torch.Tensor, panoptic: torch.Tensor) -> torch.Tensor:
        return self.fc(label, panoptic) if isinstance(self.fc, PanopticConv2d) else self.fc(label)

    def forward(self, label: torch.Tensor, panoptic: torch.Tensor) -> torch.Tensor:
        """label (N, label_channels, H, W) at `image_size`, panoptic (N, H, W) ids -> (N, 3, H, W) in [-1, 1].
        The label and panoptic maps of every scale are nearest-downsampled from these (§3.3)."""
        if tuple(label.shape[-2:]) != self.image_size or tuple(panoptic.shape[-2:]) != self.image_size:
            raise ValueError(f"generator built for {self.image_size} (H, W) got a label map {tuple(label.shape)} "
                             f"and a panoptic map {tuple(panoptic.shape)}")
        maps: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

        def at(size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
            if size not in maps:
                maps[size] = (resize_nearest(label, size), resize_nearest(panoptic, size))
            return maps[size]

        ups = iter(self.upsamples) if self.upsamples is not None else None

        def up(x: torch.Tensor) -> torch.Tensor:
            low_size = tuple(x.shape[-2:])
            high_size = (2 * low_size[0], 2 * low_size[1])
            if ups is None:
                return F.interpolate(x, scale_factor=2, mode="nearest")
            label_high, panoptic_high = at(high_size)
            return next(ups)(x, at(low_size)[1], panoptic_high, label_high, self.fc)

        def run(block: SPADEResnetBlock, x: torch.Tensor) -> torch.Tensor:
            return block(x, *at(tuple(x.shape[-2:])))

        x = self._first(*at(self.start_size))
        x = run(self.head_0, x)
        x = run(self.G_middle_0, up(x))
        if self.num_upsampling_layers in ("more", "most"):
            x = up(x)
        x = run(self.G_middle_1, x)
        for name in ("up_0", "up_1", "up_2", "up_3") + (("up_4",) if self.num_upsampling_layers == "most" else ()):
            x = run(getattr(self, name), up(x))
        return torch.tanh(self.conv_img(F.leaky_relu(x, LEAK)))
