"""Procedural street scenes labelled with Cityscapes' 19 evaluation categories (11 stuff, 8 things).

They stand in for Cityscapes where it cannot be shipped (tests, the CPU demo, the PanDA bench), so
they copy what matters to PanDA and to the models: a one-point-perspective street (sky on top, road
and sidewalk at the bottom, façades and trees at the sides), object sizes that grow with nearness,
occlusion by depth order, some void, and Cityscapes' class imbalance (road and building dominate,
riders, motorcycles, buses and trains are rare; PanDA paper Supplementary Fig. 1). Each class has
its own colour, texture and noise, jittered per image and per instance, so a small CNN can learn
it but not from mean colour alone.

Geometry: the camera is at height `CAMERA_HEIGHT_M`; a point on the ground `t` pixels below the
horizon makes an object of height `h` metres appear `t * h / CAMERA_HEIGHT_M` pixels tall."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.data.categories import CITYSCAPES_CATEGORIES, categories_json
from harness.data.dataset import write_panoptic_json, write_sample
from harness.data.parallel import parallel_map
from harness.errors import PanbenchError

MIN_SIDE = 8  # pixels: the smallest frame make_scene draws

CAMERA_HEIGHT_M = 1.5
CATEGORY = {c.name: c for c in CITYSCAPES_CATEGORIES}
VOID_CLASS = len(CITYSCAPES_CATEGORIES)  # texture row of void pixels (train ids are 0..18)


# --- textures ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Texture:
    """Luminance pattern added to a part's colour. Periods are in pixels at 256x512."""

    fine: float = 5.0  # per-pixel noise (std)
    blotch: float = 0.0  # low-frequency noise (std)
    cell_period: float = 0.0  # periodic cells: windows, tiles, bulbs (0 = none)
    cell_duty: float = 0.5
    cell_amp: float = 0.0
    stripe_period: float = 0.0  # sinusoidal stripes (0 = none)
    stripe_angle: float = 0.0  # degrees; 0 = vertical stripes
    stripe_amp: float = 0.0
    vgrad: float = 0.0  # brightness change from image top to bottom


TEXTURES: dict[str, Texture] = {
    "road": Texture(fine=6, blotch=7, vgrad=-12),
    "sidewalk": Texture(fine=6, blotch=5, cell_period=24, cell_duty=0.88, cell_amp=16),
    "building": Texture(fine=5, blotch=9, cell_period=18, cell_duty=0.55, cell_amp=-32),
    "wall": Texture(fine=3, blotch=12, vgrad=10),
    "fence": Texture(fine=5, stripe_period=6, stripe_angle=45, stripe_amp=30, cell_period=12, cell_duty=0.7, cell_amp=10),
    "pole": Texture(fine=3, stripe_period=4, stripe_amp=10),
    "traffic light": Texture(fine=4, cell_period=6, cell_duty=0.5, cell_amp=45),
    "traffic sign": Texture(fine=4, blotch=4, stripe_period=10, stripe_angle=90, stripe_amp=15),
    "vegetation": Texture(fine=18, blotch=22),
    "terrain": Texture(fine=12, blotch=14, stripe_period=5, stripe_angle=80, stripe_amp=8),
    "sky": Texture(fine=2, blotch=6, vgrad=45),
    "person": Texture(fine=8, blotch=5, stripe_period=6, stripe_angle=90, stripe_amp=12),
    "rider": Texture(fine=8, cell_period=5, cell_duty=0.5, cell_amp=14),
    "car": Texture(fine=4, blotch=4, stripe_period=32, stripe_angle=90, stripe_amp=12, vgrad=-20),
    "truck": Texture(fine=6, cell_period=16, cell_duty=0.9, cell_amp=14),
    "bus": Texture(fine=5, stripe_period=12, stripe_angle=90, stripe_amp=18),
    "train": Texture(fine=5, stripe_period=8, stripe_amp=15),
    "motorcycle": Texture(fine=6, blotch=6, cell_period=4, cell_duty=0.5, cell_amp=20),
    "bicycle": Texture(fine=10),
}
VOID_TEXTURE = Texture(fine=10, blotch=10)


def _texture_table(scale: float) -> dict[str, np.ndarray]:
    """Texture parameters as lookup tables indexed by train id (row 19 = void)."""
    rows = [TEXTURES[c.name] for c in CITYSCAPES_CATEGORIES] + [VOID_TEXTURE]
    table = {name: np.array([getattr(r, name) for r in rows], np.float32)
             for name in Texture.__dataclass_fields__}
    for period in ("cell_period", "stripe_period"):
        p = table[period]
        table[period] = np.where(p > 0, np.maximum(p * scale, 2.0), 0.0).astype(np.float32)
    return table


# --- canvas: a map of painted parts -----------------------------------------------------------
class Canvas:
    """Parts painted in order (later parts cover earlier ones). A part is one colour region of a
    segment (a car's body, windows and wheels are three parts of one segment)."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.parts = np.zeros((height, width), np.uint16)  # part 0 = void
        self.segment = [0]
        self.train_id = [VOID_CLASS]
        self.color = [(0.0, 0.0, 0.0)]

    def add_part(self, segment_id: int, train_id: int, color) -> int:
        if len(self.segment) == np.iinfo(np.uint16).max:
            raise RuntimeError("too many parts in one scene")
        self.segment.append(segment_id)
        self.train_id.append(train_id)
        self.color.append(tuple(float(c) for c in color))
        return len(self.segment) - 1

    def paint(self, window: tuple[slice, slice], mask: np.ndarray, part: int) -> None:
        view = self.parts[window]
        view[np.broadcast_to(mask, view.shape)] = part

    def box(self, x0: float, y0: float, x1: float, y1: float):
        """Clip the box [x0, x1) x [y0, y1) to the image; return (window, a, b) where a (1, w) and
        b (h, 1) are normalised box coordinates (0..1 left->right, top->bottom) of pixel centres,
        or None when nothing of the box is visible."""
        ix0, iy0 = max(int(np.floor(x0)), 0), max(int(np.floor(y0)), 0)
        ix1, iy1 = min(int(np.ceil(x1)), self.width), min(int(np.ceil(y1)), self.height)
        if ix1 <= ix0 or iy1 <= iy0 or x1 - x0 < 1 or y1 - y0 < 1:
            return None
        a = ((np.arange(ix0, ix1, dtype=np.float32) + 0.5 - x0) / (x1 - x0))[None, :]
        b = ((np.arange(iy0, iy1, dtype=np.float32) + 0.5 - y0) / (y1 - y0))[:, None]
        return (slice(iy0, iy1), slice(ix0, ix1)), a, b


# --- scene layout -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Street:
    horizon: float  # y of the horizon (pixels)
    vanish_x: float  # x of the vanishing point
    road_k: tuple[float, float]  # road half-width per pixel below the horizon (left, right)
    outer_k: tuple[float, float]  # outer edge of sidewalk/terrain, same units
    sidewalk_k: tuple[float, float]  # outer edge of the sidewalk

    def ground_x(self, t: float, lateral: float) -> float:
        """x of a ground point t pixels below the horizon; lateral in [-1, 1] spans the road,
        beyond ±1 the sidewalk (±sidewalk_k/road_k) and terrain."""
        k = self.road_k[0] if lateral < 0 else self.road_k[1]
        return self.vanish_x + lateral * k * t


def _sample_street(rng: np.random.Generator, height: int, width: int) -> Street:
    horizon = height * rng.uniform(0.36, 0.46)
    vanish_x = width * rng.uniform(0.38, 0.62)
    depth = height - horizon
    road_k = tuple(width * rng.uniform(0.65, 0.95) / depth for _ in range(2))
    sidewalk_k = tuple(r * rng.uniform(1.5, 2.0) for r in road_k)
    outer_k = tuple(s * (rng.uniform(1.3, 1.8) if rng.random() < 0.4 else 1.0) for s in sidewalk_k)
    return Street(horizon, vanish_x, road_k, outer_k, sidewalk_k)


def _jitter(rng: np.random.Generator, color, amount: float) -> np.ndarray:
    return np.clip(np.asarray(color, np.float32) + rng.uniform(-amount, amount, 3), 0, 255)


def _paint_background(rng: np.random.Generator, canvas: Canvas, street: Street) -> None:
    """Sky, façades (buildings / tree lines), terrain, sidewalk, road, walls and fences: one label
    per pixel from closed-form perspective regions over the whole image (no per-object loop over
    pixels). Façade blocks grow geometrically away from the vanishing point, as in perspective."""
    h, w = canvas.height, canvas.width
    t = np.arange(h, dtype=np.float32)[:, None] + 0.5 - street.horizon  # (H,1) below-horizon offset
    x = np.arange(w, dtype=np.float32)[None, :] + 0.5
    left = x < street.vanish_x
    u = np.abs(x - street.vanish_x)  # (1,W)
    side = lambda pair: np.where(left, np.float32(pair[0]), np.float32(pair[1]))  # noqa: E731
    road_k, sidewalk_k, outer_k = side(street.road_k), side(street.sidewalk_k), side(street.outer_k)

    # Façade blocks per side: boundaries at u0 * r^i; each block a building or a tree line.
    block_part = np.zeros((1, w), np.int32)
    top_k = np.zeros((1, w), np.float32)
    for is_left in (True, False):
        cols = left if is_left else ~left
        k_out = street.outer_k[0 if is_left else 1]
        edges = [0.0]
        while edges[-1] < w:
            edges.append(max(edges[-1] * rng.uniform(1.25, 1.9), w * rng.uniform(0.02, 0.06)))
        block = np.clip(np.searchsorted(np.asarray(edges[1:], np.float32), u), 0, len(edges) - 2)
        parts, tops = [], []
        for _ in range(len(edges) - 1):
            if rng.random() < 0.35:
                cat, height_m = CATEGORY["vegetation"], rng.uniform(5, 14)
                color = _jitter(rng, cat.color, 25)
            else:
                cat, height_m = CATEGORY["building"], rng.uniform(7, 28)
                color = _jitter(rng, cat.color, 35)
            parts.append(canvas.add_part(cat.id * 1000, cat.train_id, color))
            tops.append((height_m / CAMERA_HEIGHT_M - 1.0) / k_out)
        block_part = np.where(cols, np.asarray(parts)[block], block_part)
        top_k = np.where(cols, np.asarray(tops, np.float32)[block], top_k)
    facade = t > -u * top_k
    parts = np.where(facade, block_part, 0)

    sky = CATEGORY["sky"]
    parts = np.where(facade, parts, canvas.add_part(sky.id * 1000, sky.train_id, _jitter(rng, sky.color, 25)))
    if rng.random() < 0.6:  # a building closing the street at the vanishing point
        b = CATEGORY["building"]
        far_w, far_h = canvas.width * rng.uniform(0.05, 0.2), street.horizon * rng.uniform(0.1, 0.5)
        far = (u < far_w) & (t > -far_h) & (t <= 0)
        parts = np.where(far, canvas.add_part(b.id * 1000, b.train_id, _jitter(rng, b.color, 35)), parts)

    # Walls and fences: a band from the façade's ground line up to a fraction of the camera height.
    for _ in range(rng.poisson(1.2)):
        cat = CATEGORY["wall" if rng.random() < 0.45 else "fence"]
        u0 = w * rng.uniform(0.02, 0.4)
        u1 = u0 * rng.uniform(1.5, 4.0)
        on_side = left if rng.random() < 0.5 else ~left
        ground_t = u / outer_k
        top = ground_t * (1 - rng.uniform(0.5, 1.3) / CAMERA_HEIGHT_M)
        band = on_side & (u >= u0) & (u < u1) & (t > top) & (t * outer_k <= u)
        parts = np.where(band, canvas.add_part(cat.id * 1000, cat.train_id, _jitter(rng, cat.color, 20)), parts)

    ground = t > 0
    for name, k in (("terrain", outer_k), ("sidewalk", sidewalk_k), ("road", road_k)):
        cat = CATEGORY[name]
        region = ground & (u < k * t)
        parts = np.where(region, canvas.add_part(cat.id * 1000, cat.train_id, _jitter(rng, cat.color, 18)), parts)
    canvas.parts[:] = parts


# --- stuff objects: trees, poles, signs, lights -----------------------------------------------
def _ellipse(a, b, ca, cb, ra, rb):
    return ((a - ca) / ra) ** 2 + ((b - cb) / rb) ** 2 < 1.0


def _paint_tree(rng, canvas: Canvas, street: Street, t: float, lateral: float) -> None:
    cat = CATEGORY["vegetation"]
    x, y = street.ground_x(t, lateral), street.horizon + t
    height, crown = t * rng.uniform(4, 9) / CAMERA_HEIGHT_M, t * rng.uniform(2, 5) / CAMERA_HEIGHT_M
    trunk = canvas.box(x - 0.03 * crown, y - height, x + 0.03 * crown, y)
    if trunk:
        canvas.paint(trunk[0], True, canvas.add_part(cat.id * 1000, cat.train_id, _jitter(rng, (90, 70, 50), 15)))
    top = canvas.box(x - crown / 2, y - height - crown * 0.3, x + crown / 2, y - height + crown * 0.6)
    if top:
        window, a, b = top
        blobs = _ellipse(a, b, 0.5, 0.5, 0.5, 0.5)
        for _ in range(3):  # lumpy outline
            blobs |= _ellipse(a, b, rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.35), rng.uniform(0.2, 0.35))
        canvas.paint(window, blobs, canvas.add_part(cat.id * 1000, cat.train_id, _jitter(rng, cat.color, 25)))


def _paint_pole(rng, canvas: Canvas, street: Street, t: float, lateral: float) -> None:
    """A pole on the sidewalk, often carrying a traffic sign and/or a traffic light (both stuff)."""
    pole, sign, light = CATEGORY["pole"], CATEGORY["traffic sign"], CATEGORY["traffic light"]
    x, y = street.ground_x(t, lateral), street.horizon + t
    px = t / CAMERA_HEIGHT_M  # pixels per metre at this depth
    height = px * rng.uniform(3.5, 7.0)
    half = max(px * 0.08, 0.6)
    box = canvas.box(x - half, y - height, x + half, y)
    if box:
        canvas.paint(box[0], True, canvas.add_part(pole.id * 1000, pole.train_id, _jitter(rng, pole.color, 25)))
    if rng.random() < 0.55:
        size = px * rng.uniform(0.5, 0.9)
        top = y - height + px * rng.uniform(0.0, 1.0)
        box = canvas.box(x - size / 2, top, x + size / 2, top + size)
        if box:
            window, a, b = box
            mask = _ellipse(a, b, 0.5, 0.5, 0.5, 0.5) if rng.random() < 0.5 else (np.abs(a - 0.5) + b < 1.5)
            canvas.paint(window, mask, canvas.add_part(sign.id * 1000, sign.train_id, _jitter(rng, sign.color, 30)))
    if rng.random() < 0.35:
        lw, lh = px * 0.35, px * 1.0
        box = canvas.box(x + half, y - height, x + half + lw, y - height + lh)
        if box:
            canvas.paint(box[0], True, canvas.add_part(light.id * 1000, light.train_id, _jitter(rng, (40, 40, 30), 15)))
            window, a, b = box
            bulb = _ellipse(a, (b * 3) % 1.0, 0.5, 0.5, 0.35, 0.35)
            canvas.paint(window, bulb, canvas.add_part(light.id * 1000, light.train_id, _jitter(rng, light.color, 30)))


# --- things -----------------------------------------------------------------------------------
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


def _sample_things(rng: np.random.Generator, street: Street, depth: float) -> list[Thing]:
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
    dark, glass = _jitter(rng, (25, 25, 25), 10), _jitter(rng, (40, 55, 70), 15)
    name, side = thing.name, thing.view == "side"
    if name == "car":
        if side:
            body = _rect(a, b, 0.0, 1.0, 0.4, 0.85) | _rect(a, b, 0.2, 0.78, 0.05, 0.45)
            cabin = _rect(a, b, 0.25, 0.73, 0.1, 0.4)
            wheels = _ellipse(a, b, 0.2, 0.85, 0.08, 0.15) | _ellipse(a, b, 0.8, 0.85, 0.08, 0.15)
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
        wheels = (_ellipse(a, b, 0.12, 0.92, 0.04 if side else 0.1, 0.08) | _ellipse(a, b, 0.88, 0.92, 0.04 if side else 0.1, 0.08))
        return [(body, base), (windows, glass), (wheels, dark)]
    if name in ("person", "rider"):
        skin = _jitter(rng, (200, 160, 130), 40)
        legs_color = np.clip(base * 0.45, 0, 255)
        head = _ellipse(a, b, 0.5, 0.08, 0.22, 0.08)
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
            wheels = _ellipse(a, b, 0.2, 0.75, 0.16 / aspect * 2, 0.25) | _ellipse(a, b, 0.8, 0.75, 0.16 / aspect * 2, 0.25)
            body = _ellipse(a, b, 0.5, 0.5, 0.35, 0.2)
        else:
            wheels = _rect(a, b, 0.35, 0.65, 0.5, 1.0)
            body = _ellipse(a, b, 0.5, 0.45, 0.45, 0.25)
        return [(wheels, dark), (body, base)]
    raise ValueError(f"unknown thing {name!r}")


def _paint_thing(rng, canvas: Canvas, street: Street, thing: Thing, segment_id: int) -> None:
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
    base = _jitter(rng, cat.color, 45 if thing.name in ("car", "person") else 30)
    for mask, color in _thing_parts(thing, a, b, bw / bh, rng, base):
        canvas.paint(window, mask, canvas.add_part(segment_id, cat.train_id, color))


# --- void ---------------------------------------------------------------------------------------
def _paint_void(rng, canvas: Canvas, street: Street) -> None:
    """Unlabelled pixels as in Cityscapes: the ego vehicle's bonnet and a few unlabelled objects."""
    h, w = canvas.height, canvas.width
    for _ in range(rng.poisson(1.0)):  # bins, boxes, bollards on the sidewalk
        t = (h - street.horizon) * rng.uniform(0.1, 0.9)
        px = t / CAMERA_HEIGHT_M
        x, y = street.ground_x(t, float(np.sign(rng.random() - 0.5) or 1.0) * rng.uniform(1.05, 1.4)), street.horizon + t
        box = canvas.box(x - 0.4 * px, y - 1.0 * px, x + 0.4 * px, y)
        if box:
            canvas.paint(box[0], True, canvas.add_part(0, VOID_CLASS, rng.uniform(30, 200, 3)))
    if rng.random() < 0.6:
        bonnet = h * rng.uniform(0.04, 0.1)
        box = canvas.box(-0.1 * w, h - bonnet, 1.1 * w, h + bonnet)
        if box:
            window, a, b = box
            canvas.paint(window, _ellipse(a, b, 0.5, 1.0, 0.7, 1.0), canvas.add_part(0, VOID_CLASS, rng.uniform(10, 60, 3)))


# --- rendering ----------------------------------------------------------------------------------
def _lowfreq_noise(rng, height: int, width: int, cell: float) -> np.ndarray:
    """Smooth noise: a coarse Gaussian grid upsampled bilinearly (separable gathers, no loops)."""
    gh, gw = int(np.ceil(height / cell)) + 2, int(np.ceil(width / cell)) + 2
    grid = rng.standard_normal((gh, gw), dtype=np.float32)
    fy = np.arange(height, dtype=np.float32) / cell
    fx = np.arange(width, dtype=np.float32) / cell
    y0, x0 = fy.astype(np.int32), fx.astype(np.int32)
    wy, wx = (fy - y0)[:, None], (fx - x0)[None, :]
    rows = grid[y0] * (1 - wy) + grid[y0 + 1] * wy  # (H, gw)
    return rows[:, x0] * (1 - wx) + rows[:, x0 + 1] * wx


def _render(rng, canvas: Canvas) -> np.ndarray:
    """Colour of each part + its class's luminance texture + per-pixel noise, with a per-image gain
    and colour cast. All per-class parameters are looked up per pixel (np.take), no loop over classes."""
    h, w = canvas.height, canvas.width
    scale = float(np.sqrt(h * w / (256 * 512)))
    tex = _texture_table(scale)
    cls = np.take(np.asarray(canvas.train_id, np.uint8), canvas.parts)
    lookup = lambda name: np.take(tex[name], cls)  # noqa: E731
    y = np.arange(h, dtype=np.float32)[:, None]
    x = np.arange(w, dtype=np.float32)[None, :]

    uniform_std = np.float32(2 * np.sqrt(3.0))  # U(-0.5, 0.5) * this has unit variance
    lum = lookup("fine") * ((rng.random((h, w), dtype=np.float32) - 0.5) * uniform_std)
    lum += lookup("blotch") * _lowfreq_noise(rng, h, w, 12 * scale)
    lum += lookup("vgrad") * (y / h - 0.5)
    inv_cell = np.take(np.where(tex["cell_period"] > 0, 1 / np.maximum(tex["cell_period"], 1), 0).astype(np.float32), cls)
    duty = lookup("cell_duty")
    cx, cy = x * inv_cell, y * inv_cell
    cells = ((cx - np.floor(cx)) < duty) & ((cy - np.floor(cy)) < duty) & (inv_cell > 0)
    lum += lookup("cell_amp") * cells
    angle = np.deg2rad(tex["stripe_angle"])
    freq = np.where(tex["stripe_period"] > 0, 2 * np.pi / np.maximum(tex["stripe_period"], 1), 0)
    fx, fy = np.take((np.cos(angle) * freq).astype(np.float32), cls), np.take((np.sin(angle) * freq).astype(np.float32), cls)
    lum += lookup("stripe_amp") * np.cos(x * fx + y * fy)

    gain = np.float32(rng.uniform(0.8, 1.15))
    cast = rng.uniform(-12, 12, 3).astype(np.float32)
    image = np.take(np.asarray(canvas.color, np.float32) * gain + cast, canvas.parts, axis=0)
    image += lum[..., None]
    image += (rng.random((h, w, 3), dtype=np.float32) - 0.5) * np.float32(10.0)  # colour noise, std 2.9
    return np.clip(image, 0, 255).astype(np.uint8)


# --- public API ---------------------------------------------------------------------------------
def make_scene(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray, dict[int, int], dict[int, int]]:
    """One street scene: (image uint8 HxWx3, ids uint32 HxW, category_of, iscrowd_of).
    Stuff ids are category_id * 1000, thing ids category_id * 1000 + k (Cityscapes convention);
    a rare group of distant pedestrians is one crowd segment (iscrowd 1)."""
    if height < MIN_SIDE or width < MIN_SIDE:
        raise ValueError(f"scene must be at least {MIN_SIDE}x{MIN_SIDE} pixels, got {height}x{width}")
    canvas = Canvas(height, width)
    street = _sample_street(rng, height, width)
    depth = height - street.horizon
    _paint_background(rng, canvas, street)

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
        (_paint_tree if kind == "tree" else _paint_pole)(rng, canvas, street, t, lateral)

    if rng.random() < 0.12:  # distant crowd of pedestrians: one segment, iscrowd = 1
        crowd_id = new_id("person")
        iscrowd_of[crowd_id] = 1
        t0, lat0 = depth * rng.uniform(0.06, 0.15), float(np.sign(rng.random() - 0.5) or 1.0) * rng.uniform(1.05, 1.3)
        for _ in range(rng.integers(4, 9)):
            thing = Thing("person", t0 * rng.uniform(0.9, 1.1), lat0 + rng.uniform(-0.15, 0.15))
            _paint_thing(rng, canvas, street, thing, crowd_id)

    things = sorted(_sample_things(rng, street, depth), key=lambda th: th.t)  # far first: near ones occlude
    for thing in things:
        _paint_thing(rng, canvas, street, thing, new_id(thing.name))
    _paint_void(rng, canvas, street)

    ids = np.asarray(canvas.segment, np.uint32)[canvas.parts]
    return _render(rng, canvas), ids, category_of, iscrowd_of


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of image `index`: a function of (seed, index) only, so image i is the same
    whatever n and however many workers."""
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def _write_scene(job: tuple[str, int, int, int, int]) -> tuple[dict, dict]:
    root, seed, index, height, width = job
    image, ids, category_of, iscrowd_of = make_scene(scene_rng(seed, index), height, width)
    return write_sample(root, f"synth_{index:06d}", image, ids, category_of, iscrowd_of, image_id=index)


def synthesize_dataset(out: str | Path, n: int, seed: int, width: int = 512, height: int = 256,
                       workers: int | None = None, progress: bool = True) -> Path:
    """Write `n` scenes as a COCO-panoptic dataset at `out` (image ids 0..n-1, names synth_000000...)."""
    if n < 1 or height < MIN_SIDE or width < MIN_SIDE:
        raise PanbenchError(f"synthetic dataset {out}: need n >= 1 and scenes of at least {MIN_SIDE}x{MIN_SIDE} "
                            f"pixels, got n={n}, {width}x{height} (WxH)")
    out = Path(out)
    jobs = [(str(out), seed, i, height, width) for i in range(n)]
    results = parallel_map(_write_scene, jobs, workers=workers, description=f"synth {n} scenes", progress=progress)
    images = [entry for entry, _ in results]
    annotations = [ann for _, ann in results]
    write_panoptic_json(out, images, annotations, categories_json(),
                        info={"description": "panbench synthetic street scenes", "seed": seed,
                              "height": height, "width": width})
    return out
