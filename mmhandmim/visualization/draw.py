"""cv2 drawing helpers: 2D keypoints with skeleton links, and image grids.

Colours are given in the image's channel order (BGR for cv2 images). By default keypoint
coordinates use the rasteriser's continuous pixel convention (pixel ``(row, col)`` spans
``[col, col + 1) x [row, row + 1)``, i.e. what ``K`` projections give), so a keypoint at
``(u, v)`` is drawn at ``(u - 0.5, v - 0.5)`` of cv2's integer-centred grid and lines up
with rendered meshes; pass ``center_offset=0`` for integer-centred coordinates.
"""
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = ['clip_segments', 'draw_keypoints', 'make_grid']

_SHIFT = 4  # cv2 sub-pixel bits: coordinates are drawn with 1/16 pixel precision
# A distinct BGR colour per link group when the caller gives none (cycled).
_PALETTE = [(0, 0, 255), (0, 128, 255), (0, 200, 200), (0, 200, 0), (255, 128, 0),
            (255, 0, 128), (200, 0, 200), (128, 128, 128)]


def _fixed(pt, offset: float) -> Tuple[int, int]:
    return (int(round((pt[0] - offset) * (1 << _SHIFT))),
            int(round((pt[1] - offset) * (1 << _SHIFT))))


def clip_segments(start: np.ndarray, end: np.ndarray, lo: Sequence[float],
                  hi: Sequence[float]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clip 2D segments to the box ``[lo, hi]`` (Liang-Barsky, vectorised).

    cv2 draws in int32 fixed point: a keypoint millions of pixels away (a hand right in
    front of the camera) overflows it, so segments are cut to a margin around the image
    first; what is drawn inside the image is unchanged.

    Args:
        start (np.ndarray): (M, 2) first end points.
        end (np.ndarray): (M, 2) second end points.
        lo (Sequence[float]): (x, y) of the box's lower corner.
        hi (Sequence[float]): (x, y) of the box's upper corner.

    Returns:
        Tuple[np.ndarray, np.ndarray, np.ndarray]: the clipped (M, 2) start and end points,
        and the (M,) mask of segments that touch the box (the others are left as given).
    """
    start, end = np.asarray(start, np.float64), np.asarray(end, np.float64)
    d = end - start
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        ta, tb = (lo - start) / d, (hi - start) / d
    flat = d == 0  # parallel to a side: inside the slab or not at all
    inside = (start >= lo) & (start <= hi)
    t_in = np.where(flat, np.where(inside, -np.inf, np.inf), np.minimum(ta, tb))
    t_out = np.where(flat, np.where(inside, np.inf, -np.inf), np.maximum(ta, tb))
    t0 = np.maximum(t_in.max(1), 0.0)
    t1 = np.minimum(t_out.min(1), 1.0)
    keep = t0 <= t1
    # unclipped ends stay bit-identical (a segment inside the box draws as before)
    new_start = np.where((keep & (t0 > 0))[:, None], start + t0[:, None] * d, start)
    new_end = np.where((keep & (t1 < 1))[:, None], start + t1[:, None] * d, end)
    return new_start, new_end, keep


def draw_keypoints(image: np.ndarray, kpts2d, links: Optional[Sequence[Tuple[int, int]]] = None,
                   point_color: Tuple[int, int, int] = (0, 255, 255),
                   link_colors: Optional[Sequence[Tuple[int, int, int]]] = None,
                   radius: int = 3, thickness: int = 2, scores=None, score_thr: float = 0.0,
                   center_offset: float = 0.5, copy: bool = True) -> np.ndarray:
    """Draw keypoints and the links between them.

    Args:
        image: (H, W, 3) uint8 image (drawn on a copy unless ``copy=False``).
        kpts2d: (N, 2) pixel coordinates (u, v); extra columns are ignored.
        links: (i, j) index pairs to connect, e.g. a hand skeleton from the caller.
        point_color: colour of the keypoint dots.
        link_colors: one colour per link; default cycles a fixed palette.
        scores: optional (N,) confidences; keypoints with ``score <= score_thr`` (and
            links touching them) are skipped, as are non-finite coordinates. Links are
            clipped to a margin around the image and dots outside it skipped, so keypoints
            far outside (any finite value) draw what falls inside.
        center_offset: coordinate of a pixel's centre within it (0.5: K projections and
            the rasteriser; 0: integer-centred, e.g. cv2 / many dataset annotations).
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3:
        raise ValueError('image must be an (H, W, 3) uint8 array, got '
                         f'{getattr(image, "dtype", type(image))} {getattr(image, "shape", "")}')
    kpts = np.asarray(kpts2d, dtype=np.float64)
    if kpts.ndim != 2 or kpts.shape[1] < 2:
        raise ValueError(f'kpts2d must be (N, 2), got shape {kpts.shape}')
    visible = np.isfinite(kpts[:, :2]).all(1)
    if scores is not None:
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if scores.shape[0] != kpts.shape[0]:
            raise ValueError(f'scores has {scores.shape[0]} entries for {kpts.shape[0]} kpts')
        visible &= scores > score_thr
    out = image.copy() if copy else image
    links = np.asarray(links if links is not None and len(links) else np.zeros((0, 2)),
                       np.int64).reshape(-1, 2)
    bad = (links < 0) | (links >= len(kpts))
    if bad.any():
        i, j = links[bad.any(1)][0]
        raise ValueError(f'link ({i}, {j}) out of range for {len(kpts)} keypoints')
    # drawing happens within a margin around the image (int32 fixed point, see clip_segments)
    margin = radius + thickness + 2
    lo, hi = (-margin, -margin), (image.shape[1] + margin, image.shape[0] + margin)
    xy = np.where(visible[:, None], kpts[:, :2], 0.0)
    start, end, shown = clip_segments(xy[links[:, 0]], xy[links[:, 1]], lo, hi)
    shown &= visible[links[:, 0]] & visible[links[:, 1]]
    for k in np.flatnonzero(shown):
        color = link_colors[k] if link_colors is not None else _PALETTE[k % len(_PALETTE)]
        cv2.line(out, _fixed(start[k], center_offset), _fixed(end[k], center_offset),
                 tuple(int(c) for c in color), thickness, cv2.LINE_AA, _SHIFT)
    near = visible & (xy >= lo).all(1) & (xy <= hi).all(1)
    for i in np.flatnonzero(near):
        cv2.circle(out, _fixed(kpts[i], center_offset), radius << _SHIFT,
                   tuple(int(c) for c in point_color), -1, cv2.LINE_AA, _SHIFT)
    return out


def make_grid(images: Sequence[np.ndarray], ncols: int, pad: int = 2, pad_value: int = 255,
              path: Optional[str] = None) -> np.ndarray:
    """Tile uint8 images row-major into a grid of ``min(ncols, len(images))`` columns.

    Cells are the size of the largest image (smaller ones are top-left aligned); grey
    images are expanded to the widest channel count present (3 or 4; alpha added as 255).
    If ``path`` is given the grid is also written there with ``cv2.imwrite`` (PNG keeps
    alpha and is lossless).
    """
    if len(images) == 0:
        raise ValueError('make_grid needs at least one image')
    if ncols < 1 or pad < 0:
        raise ValueError(f'need ncols >= 1 and pad >= 0, got ncols={ncols}, pad={pad}')
    imgs = []
    for im in images:
        im = np.asarray(im)
        if im.dtype != np.uint8 or im.ndim not in (2, 3):
            raise ValueError(f'images must be uint8 (H, W[, C]), got {im.dtype} {im.shape}')
        imgs.append(im[..., None] if im.ndim == 2 else im)
    C = max(im.shape[2] for im in imgs)
    if C not in (1, 3, 4):
        raise ValueError(f'images must have 1, 3 or 4 channels, got {C}')
    ch, cw = max(im.shape[0] for im in imgs), max(im.shape[1] for im in imgs)
    ncols = min(ncols, len(imgs))
    nrows = -(-len(imgs) // ncols)
    grid = np.full((nrows * ch + (nrows + 1) * pad, ncols * cw + (ncols + 1) * pad, C),
                   pad_value, np.uint8)
    for k, im in enumerate(imgs):
        if im.shape[2] == 1 and C > 1:
            im = np.repeat(im, 3, axis=2)
        if im.shape[2] == 3 and C == 4:
            im = np.concatenate([im, np.full(im.shape[:2] + (1,), 255, np.uint8)], axis=2)
        r, c = divmod(k, ncols)
        y, x = pad + r * (ch + pad), pad + c * (cw + pad)
        grid[y:y + im.shape[0], x:x + im.shape[1]] = im
    grid = grid[..., 0] if C == 1 else grid
    if path is not None and not cv2.imwrite(path, grid):
        raise OSError(f'could not write {path}')
    return grid
