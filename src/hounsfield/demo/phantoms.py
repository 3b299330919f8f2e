"""Cross-sectional phantoms: a chest CT in Hounsfield units and a T1-like head MR.

Anatomy is defined in patient coordinates (millimetres, LPS: +x to the patient's left,
+y posterior, +z towards the head, PS3.3 C.7.6.2.1.1), so any matrix size, pixel
spacing or slice thickness samples the same body. Shapes are painted inside their
bounding boxes only, which keeps a 512 x 512 slice to a few milliseconds.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Tissue(NamedTuple):
    """A region of the CT phantom: its label in the label map and its nominal CT number."""

    label: int
    name: str
    hu: float


CT_TISSUES: tuple[Tissue, ...] = (
    Tissue(0, "air", -1000.0),
    Tissue(1, "fat", -100.0),
    Tissue(2, "soft_tissue", 40.0),
    Tissue(3, "lung", -820.0),
    Tissue(4, "blood", 45.0),
    Tissue(5, "liver", 60.0),
    Tissue(6, "cancellous_bone", 750.0),
    Tissue(7, "cortical_bone", 1150.0),
    Tissue(8, "csf", 10.0),
    Tissue(9, "disc", 80.0),
    Tissue(10, "table", 200.0),
    Tissue(11, "nodule", 30.0),
    Tissue(12, "cyst", 5.0),
)
T = {t.name: t.label for t in CT_TISSUES}
CT_HU_LUT = np.array([t.hu for t in CT_TISSUES], dtype=np.float32)
CT_NOISE_HU = 12.0

# Lesions as spheres (name, centre x, y, z in mm, radius in mm, tissue); the first sits at
# z = 0, the middle of every volume, so even a few slices contain a lesion.
CT_LESIONS: tuple[tuple[str, float, float, float, float, str], ...] = (
    ("right lung nodule", -78.0, -5.0, 0.0, 9.0, "nodule"),
    ("left lung nodule", 80.0, 20.0, 60.0, 6.0, "nodule"),
    ("liver cyst", -65.0, 25.0, -130.0, 16.0, "cyst"),
)
# Pulmonary vessels: (x, y at z=0, drift in x and y per 100 mm of z, radius), per lung.
_VESSELS = tuple(
    (side * (58.0 + 22.0 * np.cos(k * 1.7)), -40.0 + 11.0 * k, 9.0 * np.sin(k), 6.0 * np.cos(k),
     2.0 + (k % 3) * 0.8)
    for side in (-1.0, 1.0) for k in range(8)
)


def _profile(z: float, top: float, bottom: float) -> float:
    """Size factor of an organ spanning z in [bottom, top]: 0 outside, rounded ends."""
    if not bottom < z < top:
        return 0.0
    half, mid = (top - bottom) / 2, (top + bottom) / 2
    return float(min(1.0, 1.4 * np.sqrt(1.0 - ((z - mid) / half) ** 2)))


def paint_ellipse(target: np.ndarray, xs: np.ndarray, ys: np.ndarray, cx: float, cy: float,
                  a: float, b: float, value: float, only_over: tuple[int, ...] = ()) -> None:
    """Set ``value`` inside the ellipse ((x-cx)/a)^2 + ((y-cy)/b)^2 <= 1.

    ``xs`` and ``ys`` are the ascending coordinates of the columns and rows; with
    ``only_over`` only pixels currently holding one of those values change.
    """
    if a <= 0 or b <= 0:
        return
    j0, j1 = np.searchsorted(xs, cx - a, "left"), np.searchsorted(xs, cx + a, "right")
    i0, i1 = np.searchsorted(ys, cy - b, "left"), np.searchsorted(ys, cy + b, "right")
    if j0 >= j1 or i0 >= i1:
        return
    sub = target[i0:i1, j0:j1]
    inside = (((xs[j0:j1] - cx) / a) ** 2)[None, :] + (((ys[i0:i1] - cy) / b) ** 2)[:, None] <= 1
    if only_over:
        inside &= np.isin(sub, only_over)
    sub[inside] = value


def paint_box(target: np.ndarray, xs: np.ndarray, ys: np.ndarray, x0: float, x1: float,
              y0: float, y1: float, value: float) -> None:
    """Set ``value`` inside the axis-aligned box [x0, x1] x [y0, y1]."""
    j0, j1 = np.searchsorted(xs, x0, "left"), np.searchsorted(xs, x1, "right")
    i0, i1 = np.searchsorted(ys, y0, "left"), np.searchsorted(ys, y1, "right")
    target[i0:i1, j0:j1] = value


def ct_slice_labels(xs: np.ndarray, ys: np.ndarray, z: float,
                    lesion_scale: float = 1.0) -> np.ndarray:
    """Return the tissue labels (uint8, rows x columns) of the chest phantom at height z.

    ``lesion_scale`` multiplies the lesion radii (priors show smaller lesions).
    """
    lab = np.zeros((ys.size, xs.size), dtype=np.uint8)
    paint_box(lab, xs, ys, -220.0, 220.0, 150.0, 160.0, T["table"])
    paint_ellipse(lab, xs, ys, 0.0, 10.0, 165.0, 115.0, T["fat"])
    paint_ellipse(lab, xs, ys, 0.0, 10.0, 150.0, 100.0, T["soft_tissue"])
    for cx, top, bottom in ((-72.0, 130.0, -90.0), (72.0, 130.0, -115.0)):
        f = _profile(z, top, bottom)
        paint_ellipse(lab, xs, ys, cx, 0.0, 52.0 * f, 72.0 * f, T["lung"])
    for x, y, dx, dy, r in _VESSELS:
        paint_ellipse(lab, xs, ys, x + dx * z / 100, y + dy * z / 100, r, r, T["blood"],
                      only_over=(T["lung"],))
    f = _profile(z, 5.0, -95.0)
    paint_ellipse(lab, xs, ys, 18.0, -25.0, 55.0 * f, 48.0 * f, T["blood"])
    if -140.0 < z < 100.0:
        paint_ellipse(lab, xs, ys, 12.0, 40.0, 13.0, 13.0, T["blood"])
    f = _profile(z, -75.0, -260.0)
    paint_ellipse(lab, xs, ys, -50.0, 5.0, 95.0 * f, 85.0 * f, T["liver"])
    if -80.0 < z < 90.0:
        paint_ellipse(lab, xs, ys, 0.0, -93.0, 14.0, 5.0, T["cortical_bone"])
    if -110.0 < z < 120.0:
        _paint_ribs(lab, xs, ys, z)
    # Vertebra: cortical shell, cancellous body, an intervertebral disc every 30 mm.
    paint_ellipse(lab, xs, ys, 0.0, 72.0, 18.0, 18.0, T["cortical_bone"])
    inner = T["disc"] if (z % 30.0) < 6.0 else T["cancellous_bone"]
    paint_ellipse(lab, xs, ys, 0.0, 72.0, 15.0, 15.0, inner)
    paint_ellipse(lab, xs, ys, 0.0, 98.0, 13.0, 13.0, T["cortical_bone"],
                  only_over=(T["soft_tissue"],))
    paint_ellipse(lab, xs, ys, 0.0, 98.0, 8.0, 8.0, T["csf"])
    paint_box(lab, xs, ys, -4.0, 4.0, 106.0, 120.0, T["cortical_bone"])
    for _, cx, cy, cz, radius, tissue in CT_LESIONS:
        r2 = (radius * lesion_scale) ** 2 - (z - cz) ** 2
        if r2 > 0:
            r = float(np.sqrt(r2))
            paint_ellipse(lab, xs, ys, cx, cy, r, r, T[tissue])
    return lab


def _paint_ribs(lab: np.ndarray, xs: np.ndarray, ys: np.ndarray, z: float) -> None:
    """Ribs: a ring just inside the body wall, present where the oblique rib (lower in
    front than at the back) crosses this slice."""
    X = xs[None, :]
    Y = ys[:, None] - 10.0
    rr = (X / 150.0) ** 2 + (Y / 100.0) ** 2
    ring = (rr >= 0.80) & (rr <= 0.90)
    from_back = np.abs(np.arctan2(X, Y))  # 0 at the spine, pi at the sternum
    phase = (z + 25.0 * from_back) % 30.0
    ribs = ring & (phase < 9.0) & ~((np.abs(X) < 35.0) & (Y < 0))
    ribs &= lab == T["soft_tissue"]
    lab[ribs] = T["cortical_bone"]


def ct_hu_slice(xs: np.ndarray, ys: np.ndarray, z: float, rng: np.random.Generator,
                lesion_scale: float = 1.0) -> np.ndarray:
    """Return the CT numbers (float32 HU) of one noisy slice of the chest phantom."""
    labels = ct_slice_labels(xs, ys, z, lesion_scale)
    hu = CT_HU_LUT[labels]
    hu += rng.standard_normal(hu.shape, dtype=np.float32) * np.float32(CT_NOISE_HU)
    return hu


# Head phantom: nested ellipsoids (cx, cy, cz, a, b, c, T1-weighted signal); later ones
# are painted over earlier ones. Values are on a 12-bit scale.
_HEAD: tuple[tuple[float, float, float, float, float, float, float], ...] = (
    (0.0, 0.0, 0.0, 78.0, 98.0, 112.0, 2300.0),     # scalp (fat is bright on T1)
    (0.0, 0.0, 0.0, 73.0, 93.0, 107.0, 120.0),      # skull
    (0.0, 0.0, 0.0, 67.0, 87.0, 101.0, 350.0),      # CSF around the brain
    (0.0, 2.0, 2.0, 64.0, 84.0, 97.0, 1150.0),      # grey matter
    (0.0, 4.0, 4.0, 53.0, 71.0, 84.0, 1550.0),      # white matter
    (-11.0, -4.0, 18.0, 6.0, 24.0, 13.0, 300.0),    # right lateral ventricle
    (11.0, -4.0, 18.0, 6.0, 24.0, 13.0, 300.0),     # left lateral ventricle
    (0.0, 10.0, -5.0, 3.0, 5.0, 8.0, 300.0),        # third ventricle
    (-30.0, -62.0, -40.0, 11.0, 11.0, 11.0, 250.0),  # right eye
    (30.0, -62.0, -40.0, 11.0, 11.0, 11.0, 250.0),   # left eye
    (26.0, 22.0, 38.0, 8.0, 8.0, 8.0, 2600.0),      # enhancing lesion
)
MR_NOISE = 30.0


def mr_head_slice(xs: np.ndarray, ys: np.ndarray, z: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Return one slice (float32, arbitrary units up to ~4000) of the head phantom with
    Rician noise and a gentle receive-coil bias field."""
    img = np.zeros((ys.size, xs.size), dtype=np.float32)
    for cx, cy, cz, a, b, c, value in _HEAD:
        k = 1.0 - ((z - cz) / c) ** 2
        if k > 0:
            s = float(np.sqrt(k))
            paint_ellipse(img, xs, ys, cx, cy, a * s, b * s, value)
    img *= (1.0 + 0.12 * (ys[:, None] / -100.0)).astype(np.float32)
    real = img + rng.standard_normal(img.shape, dtype=np.float32) * np.float32(MR_NOISE)
    imag = rng.standard_normal(img.shape, dtype=np.float32) * np.float32(MR_NOISE)
    return np.hypot(real, imag)
