"""Projection and video phantoms: a PA chest radiograph, an ultrasound cine loop, an
angiography run and a secondary-capture screen, all vectorised numpy."""

from __future__ import annotations

import numpy as np

from hounsfield.demo.phantoms import mr_head_slice, paint_ellipse

_MU_SOFT, _MU_LUNG, _MU_BONE = 0.020, 0.004, 0.050  # linear attenuation, 1/mm


def _chord(u: np.ndarray, half_depth: float) -> np.ndarray:
    """Thickness through an ellipsoid whose normalised squared radius is ``u``."""
    return 2.0 * half_depth * np.sqrt(np.clip(1.0 - u, 0.0, None))


def cr_chest(rows: int, columns: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Return a PA chest radiograph (uint16, 12 bits) for MONOCHROME1 display, where a
    high value is a high exposure (dark), and its pixel spacing in mm."""
    spacing = 430.0 / columns
    x = ((np.arange(columns) - columns / 2 + 0.5) * spacing).astype(np.float32)[None, :]
    z = (210.0 - (np.arange(rows) + 0.5) * spacing).astype(np.float32)[:, None]
    # Trunk below the shoulders, neck above them; the blend rounds the shoulders.
    shoulder = np.clip((185.0 - z) / 30.0, 0.0, 1.0)
    body = (shoulder * _chord((x / 170.0) ** 2, 115.0)
            + (1 - shoulder) * _chord((x / 55.0) ** 2, 60.0))
    atten = _MU_SOFT * body
    lungs = np.zeros((rows, columns), dtype=np.float32)
    for cx, dome_z in ((-75.0, -80.0), (75.0, -100.0)):
        t = _chord(((x - cx) / 62.0) ** 2 + ((z - 25.0) / 140.0) ** 2, 72.0)
        dome = dome_z - 0.006 * (x - cx) ** 2
        lungs += t * np.clip((z - dome) / 15.0, 0.0, 1.0)
    heart = _chord(((x - 15.0) / 68.0) ** 2 + ((z + 40.0) / 62.0) ** 2, 50.0)
    atten -= (_MU_SOFT - _MU_LUNG) * np.clip(lungs - heart, 0.0, None)
    bone = np.sqrt(np.clip(18.0**2 - x**2, 0.0, None)) * 0.6 * shoulder
    for k in range(10):
        centre = 150.0 - 25.0 * k - 0.0025 * x**2
        lateral = (np.abs(x) > 15.0) & (np.abs(x) < 150.0 - 3.0 * k)
        bone += 6.0 * np.clip(1.0 - ((z - centre) / 4.5) ** 2, 0.0, None) * lateral
    clavicle = 168.0 + 0.18 * np.abs(x)
    bone += 9.0 * np.clip(1.0 - ((z - clavicle) / 6.0) ** 2, 0.0, None) * (
        (np.abs(x) > 20.0) & (np.abs(x) < 140.0))
    atten += (_MU_BONE - _MU_SOFT) * bone
    nodule = _chord(((x + 80.0) / 9.0) ** 2 + ((z - 10.0) / 9.0) ** 2, 9.0)
    atten += (_MU_SOFT - _MU_LUNG) * nodule
    value = 3800.0 - 620.0 * atten + rng.standard_normal(atten.shape, dtype=np.float32) * 12.0
    return np.clip(value, 0, 4095).astype(np.uint16), spacing


def _sector(rows: int, columns: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Depth (pixels), angle (radians) and mask of a 70 degree sector with its apex at the
    top centre."""
    apex_y = rows * 0.08
    yy = np.arange(rows, dtype=np.float32)[:, None] - apex_y
    xx = np.arange(columns, dtype=np.float32)[None, :] - columns / 2
    depth = np.hypot(xx, yy)
    angle = np.arctan2(xx, yy)
    mask = (np.abs(angle) < np.radians(35)) & (depth < rows * 0.86) & (depth > rows * 0.02)
    return depth, angle, mask


def us_frames(frames: int, rows: int, columns: int,
              rng: np.random.Generator) -> np.ndarray:
    """Return an echocardiography-like cine loop (uint8, frames x rows x columns x 3):
    speckle, a beating chamber, a colour-flow box and an ECG trace."""
    depth, angle, mask = _sector(rows, columns)
    out = np.zeros((frames, rows, columns, 3), dtype=np.uint8)
    cy, cx = rows * 0.5, columns * 0.5
    yy = np.arange(rows, dtype=np.float32)[:, None]
    xx = np.arange(columns, dtype=np.float32)[None, :]
    ecg_x = np.arange(int(columns * 0.1), int(columns * 0.9))
    ecg_phase = (ecg_x - ecg_x[0]) / ecg_x.size * 2.0
    ecg_wave = np.exp(-(((ecg_phase % 1.0) - 0.3) / 0.015) ** 2) - 0.2 * np.exp(
        -(((ecg_phase % 1.0) - 0.55) / 0.06) ** 2)
    ecg_y = (rows * 0.95 - ecg_wave * rows * 0.06).astype(int).clip(0, rows - 1)
    for f in range(frames):
        beat = np.sin(2 * np.pi * f / max(frames, 1))
        ra, rb = columns * (0.12 + 0.02 * beat), rows * (0.16 + 0.03 * beat)
        r2 = ((xx - cx) / ra) ** 2 + ((yy - cy) / rb) ** 2
        echo = np.where(r2 < 1.0, 0.06, 0.45).astype(np.float32)
        echo[(r2 >= 1.0) & (r2 < 1.6)] = 0.95
        speckle = rng.rayleigh(1.0, size=(rows // 2 + 1, columns // 4 + 1)).astype(np.float32)
        speckle = np.repeat(np.repeat(speckle, 2, axis=0), 4, axis=1)[:rows, :columns]
        gray = echo * speckle * np.exp(-depth / (rows * 1.6)) * 160.0 * mask
        frame = np.repeat(np.clip(gray, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
        flow = (r2 < 0.7) & (np.abs(xx - cx) < ra * 0.5)
        velocity = np.broadcast_to(
            np.sin((yy - cy) / rb * 3.0 + 2 * np.pi * f / max(frames, 1)), (rows, columns))
        red, blue = flow & (velocity > 0.2), flow & (velocity < -0.2)
        frame[red] = np.outer(velocity[red], (230.0, 50.0, 30.0)).astype(np.uint8)
        frame[blue] = np.outer(-velocity[blue], (40.0, 70.0, 240.0)).astype(np.uint8)
        frame[ecg_y, ecg_x] = (60, 220, 60)
        cursor = ecg_x[int(f / max(frames, 1) * ecg_x.size) % ecg_x.size]
        frame[int(rows * 0.9):rows, cursor] = (240, 240, 90)
        ticks = np.arange(int(rows * 0.1), int(rows * 0.92), max(rows // 16, 1))
        frame[ticks, int(columns * 0.94)] = 255
        out[f] = frame
    return out


def _polyline_distance(points: np.ndarray, xs: np.ndarray, ys: np.ndarray,
                       start_length: float) -> tuple[np.ndarray, np.ndarray]:
    """Distance of each pixel to a polyline and the path length (from the tree root) of
    its nearest point."""
    dist = np.full((ys.size, xs.size), np.inf, dtype=np.float32)
    along = np.zeros_like(dist)
    length = start_length
    for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
        vx, vy = x1 - x0, y1 - y0
        seg = float(np.hypot(vx, vy)) or 1.0
        t = np.clip(((xs[None, :] - x0) * vx + (ys[:, None] - y0) * vy) / seg**2, 0.0, 1.0)
        d = np.hypot(xs[None, :] - (x0 + t * vx), ys[:, None] - (y0 + t * vy))
        closer = d < dist
        dist[closer] = d[closer]
        along[closer] = (length + t * seg)[closer]
        length += seg
    return dist, along


def xa_frames(frames: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Return a coronary angiography run (uint8, frames x size x size): contrast flows
    down a vessel tree that darkens the image frame by frame."""
    coords = np.arange(size, dtype=np.float32) / size
    tree = [  # (polyline in image fractions, start length along the tree, radius)
        (np.array([[0.45, 0.0], [0.48, 0.15], [0.42, 0.35], [0.47, 0.55], [0.4, 0.8],
                   [0.45, 1.0]]), 0.0, 0.012),
        (np.array([[0.48, 0.15], [0.6, 0.25], [0.7, 0.4], [0.78, 0.6], [0.8, 0.8]]), 0.15, 0.009),
        (np.array([[0.42, 0.35], [0.3, 0.45], [0.22, 0.6], [0.2, 0.75]]), 0.36, 0.008),
        (np.array([[0.7, 0.4], [0.58, 0.5], [0.55, 0.65]]), 0.45, 0.006),
        (np.array([[0.47, 0.55], [0.6, 0.7], [0.65, 0.9]]), 0.57, 0.006),
    ]
    darkness = np.zeros((size, size), dtype=np.float32)
    arrival = np.full((size, size), np.inf, dtype=np.float32)
    for points, start, radius in tree:
        dist, along = _polyline_distance(points, coords, coords, start)
        profile = np.sqrt(np.clip(1.0 - (dist / radius) ** 2, 0.0, None))
        better = profile > darkness
        darkness[better] = profile[better]
        arrival[better] = along[better]
    yy, xx = coords[:, None], coords[None, :]
    background = 170.0 + 40.0 * np.exp(-((xx - 0.5) ** 2 + (yy - 0.55) ** 2) / 0.15)
    spine = 30.0 * np.exp(-((xx - 0.55) / 0.07) ** 2)
    base = (background - spine).astype(np.float32)
    out = np.empty((frames, size, size), dtype=np.uint8)
    for f in range(frames):
        front = 1.6 * (f + 1) / frames
        filled = np.clip((front - arrival) * 8.0, 0.0, 1.0)
        img = base - 110.0 * darkness * filled
        img += rng.standard_normal(img.shape, dtype=np.float32) * 4.0
        out[f] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def sc_screen(rows: int, columns: int, rng: np.random.Generator) -> np.ndarray:
    """Return an RGB screen capture (uint8): an MR slice with a coloured region of
    interest, a colour bar and a title band, as a workstation would export it."""
    out = np.zeros((rows, columns, 3), dtype=np.uint8)
    out[: rows // 12] = (30, 60, 110)
    side = min(rows - rows // 12 - 8, columns - columns // 8 - 8)
    coords = ((np.arange(side) - side / 2 + 0.5) * (240.0 / side)).astype(np.float32)
    mr = mr_head_slice(coords, coords, 38.0, rng)
    gray = np.clip(mr / 2600.0 * 255.0, 0, 255).astype(np.uint8)
    top, left = rows // 12 + 4, 4
    region = out[top:top + side, left:left + side]
    region[...] = gray[..., None]
    outer = np.zeros((side, side), dtype=bool)
    inner = np.zeros((side, side), dtype=bool)
    paint_ellipse(outer, coords, coords, 26.0, 22.0, 16.0, 16.0, True)
    paint_ellipse(inner, coords, coords, 26.0, 22.0, 13.5, 13.5, True)
    region[outer & ~inner] = (255, 210, 0)
    heat = inner & (mr > 2000)
    region[heat] = (region[heat] * 0.4 + np.array([255, 40, 0]) * 0.6).astype(np.uint8)
    bar_left = columns - columns // 8
    levels = np.linspace(1.0, 0.0, side, dtype=np.float32)[:, None]
    bar = np.stack([np.clip(2 * levels, 0, 1), np.clip(2 - 2 * levels, 0, 1) * levels,
                    1 - levels], axis=-1)
    out[top:top + side, bar_left:bar_left + columns // 16] = (bar * 255).astype(np.uint8)
    return out
