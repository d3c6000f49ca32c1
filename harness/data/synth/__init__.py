"""Procedural street scenes labelled with Cityscapes' 19 evaluation categories (11 stuff, 8 things).

They stand in for Cityscapes where it cannot be shipped (tests, the CPU demo, the PanDA bench), so
they copy what matters to PanDA and to the models: a one-point-perspective street (sky on top, road
and sidewalk at the bottom, façades and trees at the sides), object sizes that grow with nearness,
occlusion by depth order, some void, and Cityscapes' class imbalance (road and building dominate,
riders, motorcycles, buses and trains are rare; PanDA paper Supplementary Fig. 1). Each class has
its own colour, texture and noise, jittered per image and per instance, so a small CNN can learn
it but not from mean colour alone.

Geometry: the camera is at height `CAMERA_HEIGHT_M`; a point on the ground `t` pixels below the
horizon makes an object of height `h` metres appear `t * h / CAMERA_HEIGHT_M` pixels tall.

The package, one idea per module: `canvas` (the part map, the street's perspective, the camera),
`textures` (per-class luminance patterns), `street` (background regions, trees, poles, signs,
lights, void), `things` (cars, persons, riders, bicycles, ... and where they stand), `render`
(colours and noise), `scene` (one scene), `writer` (a dataset of scenes)."""

from harness.data.synth.scene import MIN_SIDE, make_scene
from harness.data.synth.writer import synthesize_dataset

__all__ = ["MIN_SIDE", "make_scene", "synthesize_dataset"]
