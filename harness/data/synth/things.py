"""Things of synthetic scenes (cars, trucks, buses, trains, persons, riders, bicycles, motorcycles):
how many, where they stand, their size in metres and their parts (body, glass, wheels, ...)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.data.synth.canvas import CAMERA_HEIGHT_M, CATEGORY, Canvas, Street, ellipse, jitter

@dataclass(frozen=True)
class Thing:
    name: str
    t: float  # ground contact, pixels below the horizon (depth order key)
    lateral: float
    view: str = "rear"  # rear | side
    rider_of: str = ""  # for a rider: the vehicle it sits on


# Expected instances per image (Cityscapes train averages, roughly: cars and persons many, the rest rare).
THING_RATES = {"car": 5.0, "person": 4.5, "cyclist": 0.35, "motorcyclist": 0.12, "parked_bicycle": 0.6,
               "truck": 0.25, "bus": 0.15, "train": 0.05}


def sample_things(rng: np.random.Generator, street: Street, depth: float) -> list[Thing]:
    def sample_t(near: float = 1.0) -> float:  # more far (small) objects than near ones
        return depth * (0.03 + (near - 0.03) * rng.random() ** 2.2)

    def side_of_road() -> float:
        return float(np.sign(rng.random() - 0.5) or 1.0)

    things = []
    for kind, rate in THING_RATES.items():
        for _ in range(rng.poisson(rate)):
            if kind == "car":
                lateral = side_of_road() * (0.82 if rng.random() < 0.45 else rng.uniform(0.1, 0.7))  # parked or driving
                view = "side" if rng.random() < 0.2 else "rear"  # side views (crossing, parked across) stay farther
                things.append(Thing("car", sample_t(0.45 if view == "side" else 0.8), lateral, view))
            elif kind == "person":
                walkway = rng.random() < 0.85
                lateral = side_of_road() * (rng.uniform(1.05, 1.5) if walkway else rng.uniform(0, 1))
                things.append(Thing("person", sample_t(), lateral))
            elif kind in ("cyclist", "motorcyclist"):
                vehicle = "bicycle" if kind == "cyclist" else "motorcycle"
                t, lateral = sample_t(), side_of_road() * rng.uniform(0.5, 0.95)
                view = "side" if rng.random() < 0.5 else "rear"
                things += [Thing(vehicle, t, lateral, view), Thing("rider", t + 1e-3, lateral, view, vehicle)]
            elif kind == "parked_bicycle":
                things.append(Thing("bicycle", sample_t(), side_of_road() * rng.uniform(1.05, 1.4), "side"))
            else:  # truck, bus, train: on the road
                view = "side" if kind == "train" or rng.random() < 0.3 else "rear"
                near = 0.25 if view == "side" else 0.6  # long vehicles seen from the side: far away
                things.append(Thing(kind, sample_t(near), side_of_road() * rng.uniform(0.2, 0.7), view))
    return things


# Size in metres (width, height) by (name, view).
THING_SIZE_M = {("car", "rear"): (1.8, 1.5), ("car", "side"): (4.4, 1.5), ("truck", "rear"): (2.5, 3.4),
                ("truck", "side"): (8.0, 3.4), ("bus", "rear"): (2.6, 3.2), ("bus", "side"): (12.0, 3.2),
                ("train", "side"): (22.0, 3.6), ("person", "rear"): (0.55, 1.75), ("rider", "rear"): (0.6, 1.7),
                ("rider", "side"): (0.7, 1.7), ("bicycle", "rear"): (0.6, 1.05), ("bicycle", "side"): (1.75, 1.05),
                ("motorcycle", "rear"): (0.8, 1.2), ("motorcycle", "side"): (2.0, 1.2)}


def _rect(a, b, a0, a1, b0, b1):
    return (a >= a0) & (a < a1) & (b >= b0) & (b < b1)


def _ring(a, b, ca, cb, r_out, r_in, aspect):
    d = np.sqrt(((a - ca) * aspect) ** 2 + (b - cb) ** 2)
    return (d < r_out) & (d >= r_in)


def _thing_parts(thing: Thing, a: np.ndarray, b: np.ndarray, aspect: float, rng, base) -> list[tuple[np.ndarray, np.ndarray]]:
    """(mask, colour) parts of one thing in its normalised box; `aspect` = box width / height."""
    dark, glass = jitter(rng, (25, 25, 25), 10), jitter(rng, (40, 55, 70), 15)
    name, side = thing.name, thing.view == "side"
    if name == "car":
        if side:
            body = _rect(a, b, 0.0, 1.0, 0.4, 0.85) | _rect(a, b, 0.2, 0.78, 0.05, 0.45)
            cabin = _rect(a, b, 0.25, 0.73, 0.1, 0.4)
            wheels = ellipse(a, b, 0.2, 0.85, 0.08, 0.15) | ellipse(a, b, 0.8, 0.85, 0.08, 0.15)
        else:
            body = _rect(a, b, 0.0, 1.0, 0.4, 0.9) | (_rect(a, b, 0.1, 0.9, 0.05, 0.45) & (np.abs(a - 0.5) < 0.3 + b * 0.4))
            cabin = _rect(a, b, 0.18, 0.82, 0.12, 0.4) & (np.abs(a - 0.5) < 0.25 + b * 0.4)
            wheels = _rect(a, b, 0.05, 0.22, 0.85, 1.0) | _rect(a, b, 0.78, 0.95, 0.85, 1.0)
        return [(body, base), (cabin, glass), (wheels, dark)]
    if name in ("truck", "bus", "train"):
        if name == "truck":
            body = _rect(a, b, 0.0, 1.0, 0.0, 0.9) if not side else (_rect(a, b, 0.0, 0.75, 0.0, 0.9) | _rect(a, b, 0.76, 1.0, 0.3, 0.9))
            windows = _rect(a, b, 0.8, 0.97, 0.35, 0.55) if side else _rect(a, b, 0.1, 0.9, 0.02, 0.06)
        else:
            body = _rect(a, b, 0.0, 1.0, 0.0, 0.92)
            windows = _rect(a, b, 0.02, 0.98, 0.15, 0.45) & ((a * (12 if side else 1)) % 1.0 < 0.85)
        wheels = (ellipse(a, b, 0.12, 0.92, 0.04 if side else 0.1, 0.08) | ellipse(a, b, 0.88, 0.92, 0.04 if side else 0.1, 0.08))
        return [(body, base), (windows, glass), (wheels, dark)]
    if name in ("person", "rider"):
        skin = jitter(rng, (200, 160, 130), 40)
        legs_color = np.clip(base * 0.45, 0, 255)
        head = ellipse(a, b, 0.5, 0.08, 0.22, 0.08)
        torso = _rect(a, b, 0.15, 0.85, 0.15, 0.55) & (np.abs(a - 0.5) < 0.25 + b * 0.5)
        legs = _rect(a, b, 0.2, 0.46, 0.55, 1.0) | _rect(a, b, 0.54, 0.8, 0.55, 1.0)
        if name == "rider":  # sitting: legs bent forward
            legs = _rect(a, b, 0.25, 0.75, 0.5, 0.75) | _rect(a, b, 0.55, 0.75, 0.5, 0.9)
        return [(torso, base), (legs, legs_color), (head, skin)]
    if name == "bicycle":
        if side:
            wheels = _ring(a, b, 0.22, 0.7, 0.3, 0.22, aspect) | _ring(a, b, 0.78, 0.7, 0.3, 0.22, aspect)
            frame = (np.abs(b - 0.45 - 0.5 * np.abs(a - 0.5)) < 0.06) & (np.abs(a - 0.5) < 0.3)
        else:
            wheels = _rect(a, b, 0.42, 0.58, 0.3, 1.0)
            frame = _rect(a, b, 0.05, 0.95, 0.25, 0.33)
        return [(wheels, dark), (frame, base)]
    if name == "motorcycle":
        if side:
            wheels = ellipse(a, b, 0.2, 0.75, 0.16 / aspect * 2, 0.25) | ellipse(a, b, 0.8, 0.75, 0.16 / aspect * 2, 0.25)
            body = ellipse(a, b, 0.5, 0.5, 0.35, 0.2)
        else:
            wheels = _rect(a, b, 0.35, 0.65, 0.5, 1.0)
            body = ellipse(a, b, 0.5, 0.45, 0.45, 0.25)
        return [(wheels, dark), (body, base)]
    raise ValueError(f"unknown thing {name!r}")


def paint_thing(rng, canvas: Canvas, street: Street, thing: Thing, segment_id: int) -> None:
    cat = CATEGORY[thing.name]
    width_m, height_m = THING_SIZE_M.get((thing.name, thing.view), THING_SIZE_M.get((thing.name, "rear")))
    px = thing.t / CAMERA_HEIGHT_M
    x, y = street.ground_x(thing.t, thing.lateral), street.horizon + thing.t
    bw, bh = width_m * px, height_m * px
    if thing.name == "rider":  # sits on its vehicle: feet off the ground
        y -= 0.45 * px
    box = canvas.box(x - bw / 2, y - bh, x + bw / 2, y)
    if box is None:
        return
    window, a, b = box
    base = jitter(rng, cat.color, 45 if thing.name in ("car", "person") else 30)
    for mask, color in _thing_parts(thing, a, b, bw / bh, rng, base):
        canvas.paint(window, mask, canvas.add_part(segment_id, cat.train_id, color))
