"""Procedural backgrounds, 3D occluder objects and camera effects (numpy + cv2).

Backgrounds are BGR uint8: a base layer (gradient, coloured value noise, stripes/wood, or a
"room" of large planes), clutter (textured and plain shapes, lines), defocus blur and a global
colour cast. Occluders are small closed meshes (box, cylinder, sphere) with YCB-like names,
held in the hand by the HO3D-layout and unlabeled writers.
"""
import math
from typing import Dict, Tuple

import cv2
import numpy as np

from ...visualization.primitives import uv_sphere


def random_color(rng: np.random.Generator, sat=(0.05, 0.75), val=(0.15, 0.95)) -> np.ndarray:
    """A BGR colour (float, 0-255) drawn in HSV."""
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*sat) * 255, rng.uniform(*val) * 255]]],
                   np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)[0, 0].astype(np.float32)


def value_noise(rng: np.random.Generator, h: int, w: int, cell: float,
                octaves: int = 3, persistence: float = 0.5) -> np.ndarray:
    """Smooth noise in [0, 1], (h, w) float32: octaves of upsampled random grids."""
    out = np.zeros((h, w), np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
        grid = rng.random((gh, gw), dtype=np.float32)
        out += amp * cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
        total += amp
        amp *= persistence
        cell = max(cell / 2.0, 1.5)
    out /= total
    lo, hi = out.min(), out.max()
    return (out - lo) / max(hi - lo, 1e-6)


def _gradient(rng, h, w):
    a, b = random_color(rng), random_color(rng)
    ang = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx - w / 2) * math.cos(ang) + (yy - h / 2) * math.sin(ang)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return a * (1 - t[..., None]) + b * t[..., None]


def _noise_texture(rng, h, w, cell=None):
    cell = cell or rng.uniform(0.04, 0.4) * max(h, w)
    n = value_noise(rng, h, w, cell, octaves=int(rng.integers(2, 5)))
    cols = [random_color(rng) for _ in range(3)]
    t = n[..., None]
    return np.where(t < 0.5, cols[0] + (cols[1] - cols[0]) * (2 * t),
                    cols[1] + (cols[2] - cols[1]) * (2 * t - 1))


def _stripes(rng, h, w):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, math.pi)
    period = rng.uniform(0.02, 0.25) * max(h, w)
    warp = value_noise(rng, h, w, rng.uniform(0.1, 0.5) * max(h, w), 2) * rng.uniform(0, 25)
    s = (xx * math.cos(ang) + yy * math.sin(ang) + warp) * (2 * math.pi / period)
    t = (0.5 + 0.5 * np.sin(s)) ** rng.uniform(0.5, 2.5)
    a, b = random_color(rng), random_color(rng)
    return a + (b - a) * t[..., None]


def _room(rng, h, w):
    img = _gradient(rng, h, w)
    for _ in range(int(rng.integers(2, 5))):       # walls, tables, shelves, doors
        x0, x1 = sorted(rng.uniform(-0.2, 1.2, 2) * w)
        y0, y1 = sorted(rng.uniform(-0.2, 1.2, 2) * h)
        c = random_color(rng)
        shade = value_noise(rng, h, w, rng.uniform(0.1, 0.5) * max(h, w), 2)[..., None]
        m = np.zeros((h, w), np.float32)
        cv2.rectangle(m, (int(x0), int(y0)), (int(x1), int(y1)), 1.0, -1)
        img = img * (1 - m[..., None]) + m[..., None] * c * (0.75 + 0.5 * shade)
    return img


def _clutter(rng, img):
    h, w = img.shape[:2]
    n = int(rng.integers(3, 16))
    scale = max(h, w)
    for _ in range(n):
        kind = rng.choice(['rect', 'circle', 'ellipse', 'poly', 'line', 'textured'])
        col = tuple(float(c) for c in random_color(rng))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        r = rng.uniform(0.03, 0.3) * scale
        thick = -1 if rng.random() < 0.6 else int(rng.integers(1, 6))
        if kind == 'rect':
            cv2.rectangle(img, (int(cx - r), int(cy - r * rng.uniform(0.3, 1.5))),
                          (int(cx + r * rng.uniform(0.3, 1.5)), int(cy + r)), col, thick)
        elif kind == 'circle':
            cv2.circle(img, (int(cx), int(cy)), int(r), col, thick, cv2.LINE_AA)
        elif kind == 'ellipse':
            cv2.ellipse(img, (int(cx), int(cy)), (int(r), int(r * rng.uniform(0.2, 1))),
                        rng.uniform(0, 180), 0, 360, col, thick, cv2.LINE_AA)
        elif kind == 'poly':
            k = int(rng.integers(3, 7))
            ang = np.sort(rng.uniform(0, 2 * math.pi, k))
            rad = r * rng.uniform(0.4, 1.0, k)
            pts = np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], 1).astype(np.int32)
            if thick < 0:
                cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
            else:
                cv2.polylines(img, [pts], True, col, thick, cv2.LINE_AA)
        elif kind == 'line':
            for _ in range(int(rng.integers(1, 6))):
                p0 = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
                p1 = (int(rng.uniform(0, w)), int(rng.uniform(0, h)))
                cv2.line(img, p0, p1, col, int(rng.integers(1, 5)), cv2.LINE_AA)
        else:   # a patch of texture, e.g. a poster, cloth or a book cover
            m = np.zeros((h, w), np.float32)
            cv2.ellipse(m, (int(cx), int(cy)), (int(r), int(r * rng.uniform(0.3, 1))),
                        rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA)
            tex = _noise_texture(rng, h, w) if rng.random() < 0.5 else _stripes(rng, h, w)
            img[:] = img * (1 - m[..., None]) + tex * m[..., None]
    return img


def random_background(rng: np.random.Generator, size_hw: Tuple[int, int],
                      clutter: bool = True) -> np.ndarray:
    """A textured, cluttered, slightly defocused background, (H, W, 3) BGR uint8."""
    h, w = size_hw
    kind = rng.choice(['gradient', 'noise', 'stripes', 'room'], p=[0.2, 0.3, 0.2, 0.3])
    img = {'gradient': _gradient, 'noise': _noise_texture, 'stripes': _stripes,
           'room': _room}[kind](rng, h, w).astype(np.float32)
    img = np.ascontiguousarray(img)
    if clutter:
        img = _clutter(rng, img)
    # uneven illumination and a colour cast
    light = 0.7 + 0.5 * value_noise(rng, h, w, 0.6 * max(h, w), 1)
    img = img * light[..., None] * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    sigma = rng.uniform(0.6, 3.5) * max(h, w) / 224.0
    img = cv2.GaussianBlur(img, (0, 0), sigma)
    return np.clip(img, 0, 255).astype(np.uint8)


def green_screen(rng: np.random.Generator, size_hw: Tuple[int, int]) -> np.ndarray:
    """A lit green screen (FreiHAND's original version), (H, W, 3) BGR uint8."""
    h, w = size_hw
    base = np.array([rng.uniform(40, 80), rng.uniform(150, 200), rng.uniform(30, 70)],
                    np.float32)
    shade = 0.75 + 0.4 * value_noise(rng, h, w, 0.5 * max(h, w), 2)
    img = base * shade[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def camera_effects(rng: np.random.Generator, img: np.ndarray, blur: float = 0.8,
                   noise: float = 4.0) -> np.ndarray:
    """Mild defocus blur and sensor noise on a BGR uint8 image."""
    out = img.astype(np.float32)
    if rng.random() < 0.6:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.3, blur))
    sigma = rng.uniform(0.5, noise)
    out += rng.normal(0.0, sigma, size=out.shape).astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------
# occluder meshes (object frame, metres, centred at the origin)
OBJECT_NAMES = {'box': ('004_sugar_box', 4), 'cylinder': ('010_potted_meat_can', 10),
                'sphere': ('055_baseball', 55)}


def box_mesh(dims) -> Tuple[np.ndarray, np.ndarray]:
    """Axis-aligned box with separate vertices per side (sharp edges under smooth shading)."""
    hx, hy, hz = (0.5 * float(d) for d in dims)
    verts, faces = [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            u, v = [a for a in range(3) if a != axis]
            quad = []
            for du, dv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
                p = np.zeros(3)
                p[axis], p[u], p[v] = sign, du, dv
                quad.append(p * [hx, hy, hz])
            base = len(verts)
            verts.extend(quad)
            faces.extend([[base, base + 1, base + 2], [base, base + 2, base + 3]])
    return np.array(verts), np.array(faces, np.int64)


def cylinder_mesh(radius: float, height: float, n: int = 24) -> Tuple[np.ndarray, np.ndarray]:
    """Cylinder along z: a smooth side and two flat caps."""
    a = np.arange(n) * 2 * math.pi / n
    ring = np.stack([radius * np.cos(a), radius * np.sin(a)], 1)
    z0, z1 = -height / 2, height / 2
    side = np.concatenate([np.c_[ring, np.full(n, z0)], np.c_[ring, np.full(n, z1)]])
    j = np.arange(n)
    jn = (j + 1) % n
    faces = [np.stack([j, jn, n + jn], 1), np.stack([j, n + jn, n + j], 1)]
    verts = [side]
    for z in (z0, z1):
        base = sum(len(v) for v in verts)
        verts.append(np.concatenate([[[0.0, 0.0, z]], np.c_[ring, np.full(n, z)]]))
        faces.append(np.stack([np.full(n, base), base + 1 + j, base + 1 + jn], 1))
    return np.concatenate(verts), np.concatenate(faces).astype(np.int64)


def sphere_mesh(radius: float, n_lat: int = 12, n_lon: int = 20) -> Tuple[np.ndarray, np.ndarray]:
    v, f = uv_sphere(n_lat, n_lon)
    # poles from the y axis to the z axis: (x, y, z) -> (x, z, -y), a proper rotation
    return v[:, [0, 2, 1]] * np.array([1.0, 1.0, -1.0]) * radius, f


def sample_occluder(rng: np.random.Generator) -> Dict:
    """A random object to hold: mesh in its own frame, colours, name/label, the distance
    from its centre to its surface along the palm normal (object y axis) and its 8 bounding
    box corners."""
    kind = str(rng.choice(['box', 'cylinder', 'sphere'], p=[0.4, 0.4, 0.2]))
    if kind == 'box':
        dims = np.array([rng.uniform(0.05, 0.09), rng.uniform(0.025, 0.05),
                         rng.uniform(0.08, 0.16)])
        v, f = box_mesh(dims)
        half = dims / 2
        contact = half[1]
    elif kind == 'cylinder':
        r, hgt = rng.uniform(0.025, 0.04), rng.uniform(0.07, 0.14)
        v, f = cylinder_mesh(r, hgt)
        half = np.array([r, r, hgt / 2])
        contact = r
    else:
        r = rng.uniform(0.03, 0.045)
        v, f = sphere_mesh(r)
        half = np.array([r, r, r])
        contact = r
    base = random_color(rng, sat=(0.3, 0.9), val=(0.35, 0.95))[::-1] / 255.0   # RGB
    # a printed label band: a second colour over part of the object
    second = random_color(rng, sat=(0.2, 0.9), val=(0.3, 1.0))[::-1] / 255.0
    band = np.abs(v[:, 2] - rng.uniform(-0.3, 0.3) * half[2]) < rng.uniform(0.15, 0.45) * half[2]
    colors = np.where(band[:, None], second, base) * rng.uniform(0.97, 1.03, (len(v), 1))
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)],
                       np.float64) * half
    name, label = OBJECT_NAMES[kind]
    return {'kind': kind, 'name': name, 'label': label, 'vertices': v, 'faces': f,
            'colors': np.clip(colors, 0, 1).astype(np.float32), 'contact': float(contact),
            'corners': corners}
