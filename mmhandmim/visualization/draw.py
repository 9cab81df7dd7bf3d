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

__all__ = ['draw_keypoints', 'make_grid']

_SHIFT = 4  # cv2 sub-pixel bits: coordinates are drawn with 1/16 pixel precision
# A distinct BGR colour per link group when the caller gives none (cycled).
_PALETTE = [(0, 0, 255), (0, 128, 255), (0, 200, 200), (0, 200, 0), (255, 128, 0),
            (255, 0, 128), (200, 0, 200), (128, 128, 128)]


def _fixed(pt, offset: float) -> Tuple[int, int]:
    return (int(round((pt[0] - offset) * (1 << _SHIFT))),
            int(round((pt[1] - offset) * (1 << _SHIFT))))


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
            links touching them) are skipped, as are non-finite coordinates.
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
    for k, (i, j) in enumerate(links or ()):
        if not (0 <= i < len(kpts) and 0 <= j < len(kpts)):
            raise ValueError(f'link ({i}, {j}) out of range for {len(kpts)} keypoints')
        if visible[i] and visible[j]:
            color = link_colors[k] if link_colors is not None else _PALETTE[k % len(_PALETTE)]
            cv2.line(out, _fixed(kpts[i], center_offset), _fixed(kpts[j], center_offset),
                     tuple(int(c) for c in color), thickness, cv2.LINE_AA, _SHIFT)
    for i in np.flatnonzero(visible):
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
