"""The evaluation protocol of synthesised images as one recorded, switchable choice (`eval.protocol`,
`panbench evaluate synthesis --protocol`). Published reproductions of SPADE disagree by several mIoU
points depending on choices no paper writes down: the segmenter's input size, the filter that
resizes a generated image, how labels are brought to the prediction's size. Each preset fixes them
all, says which are known from a public source and which are assumed, and its name goes into
metrics.json (`protocol`) so tables never mix runs scored differently.

- `paper` (default; what panbench always did): the synthesis paper's text (Dundar et al., Sec. 4):
  DRN-D-105 (Cityscapes) / DeepLab-v2 (COCO-Stuff) "inferred on the synthesised images" and compared
  with the ground-truth semantic map; Faster R-CNN R50 for detAP; FID. Read as: each evaluator sees
  the generated image at its own size (256x512 / 256x256), predictions are brought to the label.
- `spade`: as close to SPADE's released Cityscapes numbers (mIoU 62.3, accuracy 81.9, FID 71.8 at
  256x512, DRN-D-105) as the public record allows: OASIS's authors matched them only when the
  generated images were upsampled to the label resolution (1024x2048) before segmentation; a SPADE
  issue thread got 93.5 % accuracy with bilinearly downsampled labels, so labels stay at full
  resolution. SPADE reports no detAP: its detector choices are the `paper` preset's."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from harness.errors import ConfigError

GENERATED, LABEL = "generated", "label"  # an evaluator's input: the generated image as it is, or at the label's size
FILTERS = ("bilinear", "bicubic", "nearest")  # torch's F.interpolate modes (align_corners=False)
LABEL_DOWNSAMPLING = ("none", "nearest")  # none: scored at the label's resolution, labels never interpolated


@dataclass(frozen=True)
class EvalProtocol:
    """Every choice between a generated image and its scores (the module docstring says why)."""

    name: str
    segmenter_input: str  # GENERATED | LABEL
    resize_filter: str  # generated image -> label size, when an input is LABEL
    label_downsampling: str  # none: logits resized (bilinear) to the labels; nearest: labels to the logits
    detector_input: str  # GENERATED | LABEL (torchvision's transform then rescales to its min_size 800)
    detector_classes: str  # which detections count
    score_threshold: float  # detections below it are dropped (after the detector's own 0.05)
    fid_resize: str  # what feeds Inception
    known: tuple[str, ...] = field(default=(), compare=False)
    assumed: tuple[str, ...] = field(default=(), compare=False)

    def record(self) -> dict:
        """The protocol as written into `evaluate synthesis --out` and run.json."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


FID_RESIZE = ("generated images at the generator's resolution against the real images resized to it (bicubic); "
              "both to 299x299 by TensorFlow-1 bilinear (torch-fidelity), as TF FID")
DETECTOR_CLASSES = "ground-truth thing classes (other detections dropped; COCOeval ignores them too)"

PRESETS: dict[str, EvalProtocol] = {p.name: p for p in (
    EvalProtocol(
        "paper", GENERATED, "bilinear", "none", GENERATED, DETECTOR_CLASSES, 0.0, FID_RESIZE,
        known=("synthesis paper Sec. 4: DRN-D-105 (Cityscapes) and DeepLab-v2 (COCO-Stuff), SPADE's segmenters, "
               "'inferred on the synthesized images'; Faster R-CNN with a ResNet-50 backbone for detAP; FID",
               "generation at 256x512 (Cityscapes) and 256x256 (COCO-Stuff)"),
        assumed=("the evaluators see the generated image at its own size",
                 "segmenter logits are resized bilinearly to the label resolution; labels are never interpolated",
                 "detAP is COCO box AP@[.5:.95] on the ground-truth thing classes, boxes scaled to the label size, "
                 "no score threshold beyond torchvision's 0.05",
                 "FID as torch-fidelity computes it")),
    EvalProtocol(
        "spade", LABEL, "bilinear", "none", GENERATED, DETECTOR_CLASSES, 0.0, FID_RESIZE,
        known=("SPADE (Park et al. 2019) scores Cityscapes with DRN-D-105: mIoU 62.3, accuracy 81.9, FID 71.8 at "
               "256x512",
               "OASIS (Schonfeld et al. 2021): its authors reproduced SPADE's numbers only with the generated images "
               "upsampled to the label resolution (1024x2048) before segmentation",
               "a SPADE issue thread: bilinearly downsampled labels gave 93.5 % accuracy against the paper's 81.9, "
               "so SPADE's labels were not downsampled bilinearly"),
        assumed=("the upsampling filter is bilinear (OASIS does not state it)",
                 "labels stay at full resolution (not downsampled at all)",
                 "SPADE reports no detAP: the detector's choices are the paper preset's",
                 "FID as torch-fidelity computes it (SPADE's FID code is not released)")),
)}
DEFAULT_PROTOCOL = "paper"  # what panbench scored with before the choice existed: runs keep their ids


def get_protocol(name: str) -> EvalProtocol:
    """The preset `name`, or a ConfigError listing the presets."""
    if name not in PRESETS:
        raise ConfigError(f"evaluation protocol {name!r} is unknown; choose one of {sorted(PRESETS)}")
    return PRESETS[name]
