"""One synthetic street scene: image, segment ids, categories and crowd flags."""

from __future__ import annotations

import numpy as np

from harness.data.categories import CITYSCAPES_CATEGORIES
from harness.data.synth.canvas import CATEGORY, Canvas
from harness.data.synth.render import render
from harness.data.synth.street import paint_background, paint_pole, paint_tree, paint_void, sample_street
from harness.data.synth.things import Thing, paint_thing, sample_things

MIN_SIDE = 8  # pixels: the smallest frame make_scene draws


def make_scene(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray, dict[int, int], dict[int, int]]:
    """One street scene: (image uint8 HxWx3, ids uint32 HxW, category_of, iscrowd_of).
    Stuff ids are category_id * 1000, thing ids category_id * 1000 + k (Cityscapes convention);
    a rare group of distant pedestrians is one crowd segment (iscrowd 1)."""
    if height < MIN_SIDE or width < MIN_SIDE:
        raise ValueError(f"scene must be at least {MIN_SIDE}x{MIN_SIDE} pixels, got {height}x{width}")
    canvas = Canvas(height, width)
    street = sample_street(rng, height, width)
    depth = height - street.horizon
    paint_background(rng, canvas, street)

    category_of = {c.id * 1000: c.id for c in CITYSCAPES_CATEGORIES if not c.isthing}
    iscrowd_of: dict[int, int] = {}
    counters = {c.name: 0 for c in CITYSCAPES_CATEGORIES if c.isthing}

    def new_id(name: str) -> int:
        counters[name] += 1
        sid = CATEGORY[name].id * 1000 + counters[name]
        category_of[sid] = CATEGORY[name].id
        return sid

    stuff_objects = [("tree", depth * rng.uniform(0.05, 0.9), rng.uniform(1.3, 1.9)) for _ in range(rng.poisson(2.0))]
    stuff_objects += [("pole", depth * rng.uniform(0.05, 0.9), rng.uniform(1.1, 1.3)) for _ in range(rng.poisson(4.0))]
    for kind, t, lateral in sorted(stuff_objects, key=lambda o: o[1]):
        lateral *= float(np.sign(rng.random() - 0.5) or 1.0)
        (paint_tree if kind == "tree" else paint_pole)(rng, canvas, street, t, lateral)

    if rng.random() < 0.12:  # distant crowd of pedestrians: one segment, iscrowd = 1
        crowd_id = new_id("person")
        iscrowd_of[crowd_id] = 1
        t0, lat0 = depth * rng.uniform(0.06, 0.15), float(np.sign(rng.random() - 0.5) or 1.0) * rng.uniform(1.05, 1.3)
        for _ in range(rng.integers(4, 9)):
            thing = Thing("person", t0 * rng.uniform(0.9, 1.1), lat0 + rng.uniform(-0.15, 0.15))
            paint_thing(rng, canvas, street, thing, crowd_id)

    things = sorted(sample_things(rng, street, depth), key=lambda th: th.t)  # far first: near ones occlude
    for thing in things:
        paint_thing(rng, canvas, street, thing, new_id(thing.name))
    paint_void(rng, canvas, street)

    ids = np.asarray(canvas.segment, np.uint32)[canvas.parts]
    return render(rng, canvas), ids, category_of, iscrowd_of
