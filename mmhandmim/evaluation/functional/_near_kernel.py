"""Compiled (numba) kernel behind the F-score: per-sample grids, exact float64 distances.

Why not scipy's cKDTree: one tree over all samples needed ~9 s for the FreiHAND evaluation set
on 2 cores (build + bounded queries); brute force (BLAS) ~12 s. A uniform grid per sample
with cells at least as large as the threshold finds every neighbour closer than it in the
cells next to a point's own.

Per point the F-score only asks "is some point closer than th?", so the same-index partner
answers most points without a search, a search stops at the first point in range, and a
threshold's grid is built only for the points still open at it (measured: 3.3 -> 2.2 CPU-s
for the four F-score passes of the FreiHAND set, vs one min-distance search per point in a
grid of the largest threshold; most of what is left is per-query overhead).

The kernel compiles once per machine (a few seconds) and is cached in ``__pycache__``
(numba's ``cache=True``; ``NUMBA_CACHE_DIR`` where that folder is read-only).
"""
import os

import numpy as np
from numba import config as numba_config
from numba import njit, prange

# numba's OpenMP layer resizes the OpenMP pool torch shares (training after an in-loop
# validation then ran with other thread counts: slower, and not bit-reproducible); its own
# 'workqueue' pool touches nothing else. A user's NUMBA_THREADING_LAYER still wins.
if 'NUMBA_THREADING_LAYER' not in os.environ:
    numba_config.THREADING_LAYER = 'workqueue'

# Grids are coarsened (still exact, cells only get larger) to at most this many cells per
# point: clearing and summing a sparse grid cost more than the queries it saves (2 to 32
# measured within noise of each other on the benchmark set).
_CELLS_PER_POINT = 8
_MIN_CELLS = 512


@njit(cache=True)
def _grid(points, cell, max_cells):
    """Counting-sort ``points`` (M, 3) into a uniform grid of cells >= ``cell``.

    Returns (lower corner, dims, start offsets per cell (+1), points in cell order, cell).
    """
    m = points.shape[0]
    lo = np.empty(3)
    hi = np.empty(3)
    for c in range(3):
        lo[c] = points[0, c]
        hi[c] = points[0, c]
    for j in range(1, m):
        for c in range(3):
            v = points[j, c]
            lo[c] = min(lo[c], v)
            hi[c] = max(hi[c], v)
    dims = np.empty(3, np.int64)
    while True:
        total = 1
        for c in range(3):
            dims[c] = int((hi[c] - lo[c]) / cell) + 1
            total *= dims[c]
        if total <= max_cells:
            break
        cell *= 1.26  # ~halves the cell count
    start = np.zeros(total + 1, np.int64)
    cell_of = np.empty(m, np.int64)
    for j in range(m):
        a = int((points[j, 0] - lo[0]) / cell)
        b = int((points[j, 1] - lo[1]) / cell)
        d = int((points[j, 2] - lo[2]) / cell)
        cell_of[j] = (a * dims[1] + b) * dims[2] + d
        start[cell_of[j] + 1] += 1
    for t in range(total):
        start[t + 1] += start[t]
    fill = start[:-1].copy()
    pts = np.empty((m, 3))  # copies in cell order: a cell's points are contiguous in memory
    for j in range(m):
        t = fill[cell_of[j]]
        pts[t, 0], pts[t, 1], pts[t, 2] = points[j, 0], points[j, 1], points[j, 2]
        fill[cell_of[j]] += 1
    return lo, dims, start, pts, cell


@njit(cache=True)
def _cell_range(x, lo, cell, dim, reach):
    """Cells along one axis that can hold a coordinate within ``reach`` of ``x``.

    A neighbour cell is skipped only when ``x`` is farther than ``reach`` (+ slack for
    rounding) from the face towards it; skipping is what could lose a neighbour, so the
    slack errs on the side of searching."""
    f = (x - lo) / cell
    if f < -1.0 or f >= dim + 1:
        return 0, 0  # more than a cell (>= the threshold) outside the grid
    ca = int(np.floor(f))
    off = (x - lo) - ca * cell  # distance to the lower face
    slack = 1e-7 * reach + 1e-12 * (abs(x) + abs(lo))
    first = ca - 1 if off < reach + slack else ca
    last = ca + 1 if cell - off < reach + slack else ca
    return max(first, 0), min(last + 1, dim)


@njit(cache=True)
def _first_within(px, py, pz, lo, dims, start, pts, cell, th):
    """The distance to some point of the grid closer than ``th`` to (px, py, pz), else inf.
    (Scalars, not a row view: a view per query costs reference counting.)"""
    a0, a1 = _cell_range(px, lo[0], cell, dims[0], th)
    b0, b1 = _cell_range(py, lo[1], cell, dims[1], th)
    c0, c1 = _cell_range(pz, lo[2], cell, dims[2], th)
    for a in range(a0, a1):
        for b in range(b0, b1):
            base = (a * dims[1] + b) * dims[2]
            # cells c0..c1-1 of this (a, b) column are contiguous in ``pts``
            for t in range(start[base + c0], start[base + c1]):
                dx = px - pts[t, 0]
                dy = py - pts[t, 1]
                dz = pz - pts[t, 2]
                # numpy's np.sqrt(np.square(d).sum(-1)) sums in this order
                d = np.sqrt(dx * dx + dy * dy + dz * dz)
                if d < th:
                    return d
    return np.inf


@njit(cache=True)
def _level(d, thresholds):
    """Index of the smallest threshold that ``d`` is below (len(thresholds) if none)."""
    t = thresholds.shape[0]
    while t > 0 and d < thresholds[t - 1]:
        t -= 1
    return t


@njit(cache=True)
def _sample_counts(src, dst, thresholds, out):
    """out[t] += #{p in src: min_q |p - q| < thresholds[t]} for one sample."""
    k, nt = src.shape[0], thresholds.shape[0]
    max_cells = max(_MIN_CELLS, _CELLS_PER_POINT * dst.shape[0])
    level = np.empty(k, np.int64)  # smallest threshold index known to hold
    for q in range(k):
        d = np.inf
        if src.shape[0] == dst.shape[0]:  # the same-index partner bounds the distance
            dx = src[q, 0] - dst[q, 0]
            dy = src[q, 1] - dst[q, 1]
            dz = src[q, 2] - dst[q, 2]
            d = np.sqrt(dx * dx + dy * dy + dz * dz)
        level[q] = _level(d, thresholds)
    # largest threshold first: a point with nothing within th[t] has nothing within smaller
    # ones, so it leaves the search (its level stays t + 1)
    for t in range(nt - 1, -1, -1):
        open_points = 0
        for q in range(k):
            open_points += level[q] == t + 1
        if open_points == 0:
            continue
        # cells as large as the threshold (+ margin for rounding): a neighbour closer than
        # it is at most 1 cell away along each axis
        lo, dims, start, pts, cell = _grid(dst, thresholds[t] * (1.0 + 1e-9), max_cells)
        for q in range(k):
            if level[q] == t + 1:
                d = _first_within(src[q, 0], src[q, 1], src[q, 2], lo, dims, start, pts,
                                  cell, thresholds[t])
                if d < thresholds[t]:
                    level[q] = _level(d, thresholds)
    for q in range(k):
        for t in range(level[q], nt):
            out[t] += 1


@njit(parallel=True, cache=True, nogil=True)
def near_counts(src, dst, thresholds):
    """counts[i, t] = #{p in src[i]: min_q |p - q| < thresholds[t], q in dst[i]}.

    ``thresholds`` ascending, > 0. Exact: every point closer than a threshold lies in the
    cells searched (see ``_cell_range``), and distances are computed in float64 as numpy
    does. Runs without the GIL, so other Python threads can work meanwhile.
    """
    n, nt = src.shape[0], thresholds.shape[0]
    counts = np.zeros((n, nt), np.int64)
    for i in prange(n):
        _sample_counts(src[i], dst[i], thresholds, counts[i])
    return counts
