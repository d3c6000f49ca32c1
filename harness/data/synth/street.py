"""The street around the things: sky, façades, terrain, sidewalk, road, walls and fences as closed-form
perspective regions, then trees, poles with signs and lights (stuff objects), and void."""

from __future__ import annotations

import numpy as np

from harness.data.synth.canvas import CAMERA_HEIGHT_M, CATEGORY, VOID_CLASS, Canvas, Street, ellipse, jitter

def sample_street(rng: np.random.Generator, height: int, width: int) -> Street:
    horizon = height * rng.uniform(0.36, 0.46)
    vanish_x = width * rng.uniform(0.38, 0.62)
    depth = height - horizon
    road_k = tuple(width * rng.uniform(0.65, 0.95) / depth for _ in range(2))
    sidewalk_k = tuple(r * rng.uniform(1.5, 2.0) for r in road_k)
    outer_k = tuple(s * (rng.uniform(1.3, 1.8) if rng.random() < 0.4 else 1.0) for s in sidewalk_k)
    return Street(horizon, vanish_x, road_k, outer_k, sidewalk_k)


def paint_background(rng: np.random.Generator, canvas: Canvas, street: Street) -> None:
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
                color = jitter(rng, cat.color, 25)
            else:
                cat, height_m = CATEGORY["building"], rng.uniform(7, 28)
                color = jitter(rng, cat.color, 35)
            parts.append(canvas.add_part(cat.id * 1000, cat.train_id, color))
            tops.append((height_m / CAMERA_HEIGHT_M - 1.0) / k_out)
        block_part = np.where(cols, np.asarray(parts)[block], block_part)
        top_k = np.where(cols, np.asarray(tops, np.float32)[block], top_k)
    facade = t > -u * top_k
    parts = np.where(facade, block_part, 0)

    sky = CATEGORY["sky"]
    parts = np.where(facade, parts, canvas.add_part(sky.id * 1000, sky.train_id, jitter(rng, sky.color, 25)))
    if rng.random() < 0.6:  # a building closing the street at the vanishing point
        b = CATEGORY["building"]
        far_w, far_h = canvas.width * rng.uniform(0.05, 0.2), street.horizon * rng.uniform(0.1, 0.5)
        far = (u < far_w) & (t > -far_h) & (t <= 0)
        parts = np.where(far, canvas.add_part(b.id * 1000, b.train_id, jitter(rng, b.color, 35)), parts)

    # Walls and fences: a band from the façade's ground line up to a fraction of the camera height.
    for _ in range(rng.poisson(1.2)):
        cat = CATEGORY["wall" if rng.random() < 0.45 else "fence"]
        u0 = w * rng.uniform(0.02, 0.4)
        u1 = u0 * rng.uniform(1.5, 4.0)
        on_side = left if rng.random() < 0.5 else ~left
        ground_t = u / outer_k
        top = ground_t * (1 - rng.uniform(0.5, 1.3) / CAMERA_HEIGHT_M)
        band = on_side & (u >= u0) & (u < u1) & (t > top) & (t * outer_k <= u)
        parts = np.where(band, canvas.add_part(cat.id * 1000, cat.train_id, jitter(rng, cat.color, 20)), parts)

    ground = t > 0
    for name, k in (("terrain", outer_k), ("sidewalk", sidewalk_k), ("road", road_k)):
        cat = CATEGORY[name]
        region = ground & (u < k * t)
        parts = np.where(region, canvas.add_part(cat.id * 1000, cat.train_id, jitter(rng, cat.color, 18)), parts)
    canvas.parts[:] = parts


def paint_tree(rng, canvas: Canvas, street: Street, t: float, lateral: float) -> None:
    cat = CATEGORY["vegetation"]
    x, y = street.ground_x(t, lateral), street.horizon + t
    height, crown = t * rng.uniform(4, 9) / CAMERA_HEIGHT_M, t * rng.uniform(2, 5) / CAMERA_HEIGHT_M
    trunk = canvas.box(x - 0.03 * crown, y - height, x + 0.03 * crown, y)
    if trunk:
        canvas.paint(trunk[0], True, canvas.add_part(cat.id * 1000, cat.train_id, jitter(rng, (90, 70, 50), 15)))
    top = canvas.box(x - crown / 2, y - height - crown * 0.3, x + crown / 2, y - height + crown * 0.6)
    if top:
        window, a, b = top
        blobs = ellipse(a, b, 0.5, 0.5, 0.5, 0.5)
        for _ in range(3):  # lumpy outline
            blobs |= ellipse(a, b, rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.35), rng.uniform(0.2, 0.35))
        canvas.paint(window, blobs, canvas.add_part(cat.id * 1000, cat.train_id, jitter(rng, cat.color, 25)))


def paint_pole(rng, canvas: Canvas, street: Street, t: float, lateral: float) -> None:
    """A pole on the sidewalk, often carrying a traffic sign and/or a traffic light (both stuff)."""
    pole, sign, light = CATEGORY["pole"], CATEGORY["traffic sign"], CATEGORY["traffic light"]
    x, y = street.ground_x(t, lateral), street.horizon + t
    px = t / CAMERA_HEIGHT_M  # pixels per metre at this depth
    height = px * rng.uniform(3.5, 7.0)
    half = max(px * 0.08, 0.6)
    box = canvas.box(x - half, y - height, x + half, y)
    if box:
        canvas.paint(box[0], True, canvas.add_part(pole.id * 1000, pole.train_id, jitter(rng, pole.color, 25)))
    if rng.random() < 0.55:
        size = px * rng.uniform(0.5, 0.9)
        top = y - height + px * rng.uniform(0.0, 1.0)
        box = canvas.box(x - size / 2, top, x + size / 2, top + size)
        if box:
            window, a, b = box
            mask = ellipse(a, b, 0.5, 0.5, 0.5, 0.5) if rng.random() < 0.5 else (np.abs(a - 0.5) + b < 1.5)
            canvas.paint(window, mask, canvas.add_part(sign.id * 1000, sign.train_id, jitter(rng, sign.color, 30)))
    if rng.random() < 0.35:
        lw, lh = px * 0.35, px * 1.0
        box = canvas.box(x + half, y - height, x + half + lw, y - height + lh)
        if box:
            canvas.paint(box[0], True, canvas.add_part(light.id * 1000, light.train_id, jitter(rng, (40, 40, 30), 15)))
            window, a, b = box
            bulb = ellipse(a, (b * 3) % 1.0, 0.5, 0.5, 0.35, 0.35)
            canvas.paint(window, bulb, canvas.add_part(light.id * 1000, light.train_id, jitter(rng, light.color, 30)))


def paint_void(rng, canvas: Canvas, street: Street) -> None:
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
            canvas.paint(window, ellipse(a, b, 0.5, 1.0, 0.7, 1.0), canvas.add_part(0, VOID_CLASS, rng.uniform(10, 60, 3)))
