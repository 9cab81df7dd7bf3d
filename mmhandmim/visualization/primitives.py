"""Small procedural meshes (test objects, occluders in the generated data, benchmarks)."""
import numpy as np


def uv_sphere(n_lat: int, n_lon: int):
    """Closed unit UV sphere with poles on the y axis, faces outward in the y-down camera
    frame: (V, 3) float64 vertices, (F, 3) int64 faces, F = 2 * n_lon * (n_lat - 1)."""
    th = np.linspace(0, np.pi, n_lat + 1)[1:-1]
    ph = np.arange(n_lon) * 2 * np.pi / n_lon
    T, P = np.meshgrid(th, ph, indexing='ij')
    ring = np.stack([np.sin(T) * np.cos(P), -np.cos(T), np.sin(T) * np.sin(P)], -1)
    v = np.concatenate([[[0.0, -1.0, 0.0]], ring.reshape(-1, 3), [[0.0, 1.0, 0.0]]])

    def idx(i, j):
        return 1 + i * n_lon + j % n_lon

    j = np.arange(n_lon)
    caps = [np.stack([np.zeros_like(j), idx(0, j), idx(0, j + 1)], 1),
            np.stack([np.full_like(j, len(v) - 1), idx(n_lat - 2, j + 1), idx(n_lat - 2, j)], 1)]
    i, j = (a.ravel() for a in np.meshgrid(np.arange(n_lat - 2), np.arange(n_lon), indexing='ij'))
    a, b, c, d = idx(i, j), idx(i, j + 1), idx(i + 1, j), idx(i + 1, j + 1)
    faces = np.concatenate(caps + [np.stack([a, c, d], 1), np.stack([a, d, b], 1)])
    return v, faces.astype(np.int64)
