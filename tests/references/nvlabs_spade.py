"""NVlabs/SPADE's networks as its classes lay them out (generator.py SPADEGenerator with use_vae off,
architecture.py SPADEResnetBlock, normalization.py SPADE and get_nonspade_norm_layer, discriminator.py
MultiscaleDiscriminator / NLayerDiscriminator), written here from their public structure and kept
independent of panbench's modules, so `torch.save(net.state_dict())` of these is what SPADE's
`save_network` writes (latest_net_G.pth / latest_net_D.pth) and their forward is SPADE's.
SPADE's SynchronizedBatchNorm2d is a _BatchNorm subclass: nn.BatchNorm2d has its state keys."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm


class SpadeNorm(nn.Module):
    def __init__(self, norm_nc: int, label_nc: int):
        super().__init__()
        self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, 128, 3, padding=1), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(128, norm_nc, 3, padding=1)
        self.mlp_beta = nn.Conv2d(128, norm_nc, 3, padding=1)

    def forward(self, x, seg):
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(seg)
        return self.param_free_norm(x) * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class ResBlock(nn.Module):
    def __init__(self, fin: int, fout: int, label_nc: int):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = spectral_norm(nn.Conv2d(fin, fmiddle, 3, padding=1))
        self.conv_1 = spectral_norm(nn.Conv2d(fmiddle, fout, 3, padding=1))
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, 1, bias=False))
        self.norm_0 = SpadeNorm(fin, label_nc)
        self.norm_1 = SpadeNorm(fmiddle, label_nc)
        if self.learned_shortcut:
            self.norm_s = SpadeNorm(fin, label_nc)

    def forward(self, x, seg):
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 2e-1))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 2e-1))
        return x_s + dx


class Generator(nn.Module):
    """SPADEGenerator for `semantic_nc` input channels (label_nc [+ dontcare] [+ instance edge])."""

    def __init__(self, semantic_nc: int, *, crop_size: int, aspect_ratio: float, num_up: str, ngf: int = 64):
        super().__init__()
        self.num_up = num_up
        n = {"normal": 5, "more": 6, "most": 7}[num_up]
        self.sw = crop_size // 2 ** n
        self.sh = round(self.sw / aspect_ratio)
        self.fc = nn.Conv2d(semantic_nc, 16 * ngf, 3, padding=1)
        self.head_0 = ResBlock(16 * ngf, 16 * ngf, semantic_nc)
        self.G_middle_0 = ResBlock(16 * ngf, 16 * ngf, semantic_nc)
        self.G_middle_1 = ResBlock(16 * ngf, 16 * ngf, semantic_nc)
        self.up_0 = ResBlock(16 * ngf, 8 * ngf, semantic_nc)
        self.up_1 = ResBlock(8 * ngf, 4 * ngf, semantic_nc)
        self.up_2 = ResBlock(4 * ngf, 2 * ngf, semantic_nc)
        self.up_3 = ResBlock(2 * ngf, ngf, semantic_nc)
        final_nc = ngf
        if num_up == "most":
            self.up_4 = ResBlock(ngf, ngf // 2, semantic_nc)
            final_nc = ngf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2)

    def forward(self, seg):
        x = self.fc(F.interpolate(seg, size=(self.sh, self.sw)))
        x = self.up(self.head_0(x, seg))
        x = self.G_middle_0(x, seg)
        if self.num_up in ("more", "most"):
            x = self.up(x)
        x = self.G_middle_1(x, seg)
        for name in ("up_0", "up_1", "up_2", "up_3") + (("up_4",) if self.num_up == "most" else ()):
            x = getattr(self, name)(self.up(x), seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 2e-1)))


def spectral_instance(layer: nn.Conv2d) -> nn.Sequential:
    """get_nonspade_norm_layer(opt, 'spectralinstance'): spectral norm, the bias removed, then
    InstanceNorm2d, nested in a Sequential."""
    layer = spectral_norm(layer)
    delattr(layer, "bias")
    layer.register_parameter("bias", None)
    return nn.Sequential(layer, nn.InstanceNorm2d(layer.out_channels, affine=False))


class NLayer(nn.Module):
    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4):
        super().__init__()
        nf = ndf
        sequence = [[nn.Conv2d(input_nc, nf, 4, stride=2, padding=2), nn.LeakyReLU(0.2, False)]]
        for n in range(1, n_layers):
            nf_prev, nf = nf, min(nf * 2, 512)
            stride = 1 if n == n_layers - 1 else 2
            sequence += [[spectral_instance(nn.Conv2d(nf_prev, nf, 4, stride=stride, padding=2)),
                          nn.LeakyReLU(0.2, False)]]
        sequence += [[nn.Conv2d(nf, 1, 4, stride=1, padding=2)]]
        for n, layers in enumerate(sequence):
            self.add_module(f"model{n}", nn.Sequential(*layers))

    def forward(self, x):
        results = [x]
        for submodel in self.children():
            results.append(submodel(results[-1]))
        return results[1:]


class Discriminator(nn.Module):
    def __init__(self, input_nc: int, ndf: int = 64, n_layers: int = 4, num_d: int = 2):
        super().__init__()
        for i in range(num_d):
            self.add_module(f"discriminator_{i}", NLayer(input_nc, ndf, n_layers))

    def forward(self, x):
        result = []
        for d in self.children():
            result.append(d(x))
            x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=[1, 1], count_include_pad=False)
        return result
