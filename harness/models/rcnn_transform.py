"""torchvision's `GeneralizedRCNNTransform` that leaves an image (and its masks and boxes) alone when
its resize factor is exactly 1.

Why: torchvision interpolates even then, the image bilinearly and every instance mask as a float
map, which gives back the same values: 1.2-1.5 ms of a mini step (128x256 scenes at min_size 128),
and at paper scale a 2048x1024 image and each of its masks as 8 MiB of floats whenever UPSNet's
random train scale draws 1024. The training draw of the scale is made as torchvision makes it (one
`torch_choice`, from torch's RNG), so runs resume and compare as before."""

from __future__ import annotations

from torch import Tensor
from torchvision.models.detection.transform import (GeneralizedRCNNTransform, _resize_image_and_masks,
                                                    resize_boxes, resize_keypoints)


class RCNNTransform(GeneralizedRCNNTransform):
    def resize(self, image: Tensor, target: dict[str, Tensor] | None = None
               ) -> tuple[Tensor, dict[str, Tensor] | None]:
        h, w = image.shape[-2:]
        if self.training:
            if self._skip_resize:
                return image, target
            size = self.torch_choice(self.min_size)
        else:
            size = self.min_size[-1]
        if self.fixed_size is None and min(size / min(h, w), self.max_size / max(h, w)) == 1.0:
            return image, target  # interpolating by exactly 1 gives the same values
        image, target = _resize_image_and_masks(image, size, self.max_size, target, self.fixed_size)
        if target is None:
            return image, target
        target["boxes"] = resize_boxes(target["boxes"], (h, w), image.shape[-2:])
        if "keypoints" in target:
            target["keypoints"] = resize_keypoints(target["keypoints"], (h, w), image.shape[-2:])
        return image, target
