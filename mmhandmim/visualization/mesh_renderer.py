"""Lambert + ambient mesh shading on top of :func:`rasterize`, with compositing helpers.

Conventions (see ``rasterizer`` for the camera frame and pixel centres):
* Colour inputs (``color``, per-vertex colours) are **RGB floats in [0, 1]**.
* uint8 images in and out are **BGR by default** (``channel_order='bgr'``) so they go
  straight to/from ``cv2``; pass ``channel_order='rgb'`` for RGB arrays.
* ``light_dir`` points from the surface **towards** the light, in the camera frame
  (+z forward, +y down); the default light sits slightly above the camera.
* Both sides of the surface are lit: the normal is flipped to face the camera, so a hand
  seen from its back is shaded like one seen from the front.
"""
import math
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .rasterizer import check_mesh_inputs, rasterize_sparse

__all__ = ['RenderLayers', 'render_layers', 'render_mesh', 'render_side_view',
           'composite', 'side_view_camera']

DEFAULT_COLOR = (0.75, 0.75, 0.78)
DEFAULT_LIGHT_DIR = (0.0, -0.4, -1.0)


class RenderLayers(NamedTuple):
    """Float layers of one render, as torch tensors at the output resolution.

    color: (H, W, 3) shaded RGB in [0, 1], *not* premultiplied; 0 on background.
    alpha: (H, W) coverage in [0, 1]; fractional on edges only with antialiasing.
    depth: (H, W) camera-frame z of the nearest surface sample, 0 on background.
    """
    color: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor

    @property
    def mask(self) -> torch.Tensor:
        """Silhouette: pixels at least half covered."""
        return self.alpha >= 0.5


def _as_tensor(x, dtype=None) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return t.to(dtype) if dtype is not None else t


def _prepare(vertices, faces, K, image_size):
    vertices = _as_tensor(vertices)
    if not vertices.is_floating_point():
        vertices = vertices.to(torch.float32)
    faces = _as_tensor(faces)
    K = _as_tensor(K, torch.float64)
    H, W = check_mesh_inputs(vertices, faces, K, tuple(image_size))
    return vertices, faces.to(device=vertices.device, dtype=torch.long), K, H, W


def _colors(color, vertices) -> Tuple[torch.Tensor, bool]:
    """Return (colour tensor, per_vertex) from an RGB triple or (V, 3) array."""
    c = _as_tensor(color, torch.float32).to(vertices.device)
    if c.shape == (3,):
        return c, False
    if c.shape == (vertices.shape[0], 3):
        return c, True
    raise ValueError(f'color must be an RGB triple or (V, 3) = ({vertices.shape[0]}, 3) '
                     f'per-vertex colours, got shape {tuple(c.shape)}')


def _face_normals(tri: torch.Tensor) -> torch.Tensor:
    """Unnormalised normals (length = 2 x area) of (F, 3, 3) triangles."""
    return torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=1)


def _shade(vertices, faces, K, H, W, color, light_dir, ambient, diffuse, shading, near):
    """Shade the covered pixels only -> (pix (N,), rgb (N, 3), depth (N,)).

    Shading terms are computed per face (or per face corner) first and only then gathered
    for the covered pixels, so per-pixel work is a couple of gathers and a weighted sum.
    """
    if shading not in ('flat', 'smooth'):
        raise ValueError(f"shading must be 'flat' or 'smooth', got {shading!r}")
    base, per_vertex = _colors(color, vertices)
    sp = rasterize_sparse(vertices, faces, K, (H, W), near=near)
    v = vertices.to(torch.float32)
    light = torch.nn.functional.normalize(_as_tensor(light_dir, torch.float32).to(v.device),
                                          dim=0)
    tri = v[faces]                                           # (F, 3, 3)
    fn = _face_normals(tri)
    # For a pinhole camera n.P is constant over a face's plane, so "does this face look
    # away from the camera" is a per-face sign; flip those normals towards the camera.
    facing = torch.where((fn * tri[:, 0]).sum(1) > 0, -1.0, 1.0)
    f, bary = sp.face_idx, sp.bary.to(torch.float32)
    if shading == 'flat':
        cos = (torch.nn.functional.normalize(fn, dim=1) @ light) * facing
        intensity = (ambient + diffuse * cos.clamp_min(0)).index_select(0, f)
    else:
        vn = torch.zeros_like(v).index_add_(0, faces.reshape(-1), fn.repeat_interleave(3, 0))
        corner_n = (vn[faces] * facing[:, None, None]).view(-1, 9)  # (F, 3 corners x 3)
        n = (corner_n.index_select(0, f).view(-1, 3, 3) * bary[..., None]).sum(1)
        cos = (n @ light) / n.norm(dim=1).clamp_min(1e-12)
        intensity = ambient + diffuse * cos.clamp_min(0)
    if per_vertex:
        corner_c = base[faces].view(-1, 9)
        rgb = (corner_c.index_select(0, f).view(-1, 3, 3) * bary[..., None]).sum(1)
    else:
        rgb = base.expand(len(f), 3)
    return sp.pix, (rgb * intensity[:, None]).clamp_(0, 1), sp.depth.to(torch.float32)


def _supersample_factor(antialias) -> int:
    if antialias is None or antialias is False:
        return 1
    if antialias is True:
        return 4
    if isinstance(antialias, (int, np.integer)) and antialias >= 1:
        return int(antialias)
    raise ValueError(f'antialias must be False, True (= 4) or an int factor >= 1, '
                     f'got {antialias!r}')


@torch.no_grad()
def render_layers(vertices, faces, K, image_size: Sequence[int],
                  color: Union[Sequence[float], np.ndarray, torch.Tensor] = DEFAULT_COLOR,
                  light_dir: Sequence[float] = DEFAULT_LIGHT_DIR, ambient: float = 0.35,
                  diffuse: float = 0.65, shading: str = 'flat',
                  antialias: Union[bool, int] = False, near: float = 1e-3) -> RenderLayers:
    """Shade one mesh into float layers (colour, alpha, depth); see the module docstring.

    Args:
        vertices: (V, 3) camera-frame vertices (tensor or array).
        faces: (F, 3) integer indices.
        K: (3, 3) intrinsics; image_size: (H, W).
        color: RGB triple, or (V, 3) per-vertex RGB (interpolated perspective-correctly),
            e.g. a texture baked to vertices.
        light_dir, ambient, diffuse: intensity = ambient + diffuse * max(0, n . l).
        shading: 'flat' (face normals) or 'smooth' (interpolated vertex normals).
        antialias: False, or an int supersampling factor s >= 2 (renders s*H x s*W and
            box-filters, giving fractional alpha on edges); True means 4.
    """
    vertices, faces, K, H, W = _prepare(vertices, faces, K, image_size)
    s = _supersample_factor(antialias)
    # Pixel edges sit on integer coordinates, so scaling K's first two rows by s maps the
    # same ray to the same spot of an s-times finer grid.
    Ks = K.clone()
    Ks[:2] *= s
    pix, rgb, depth = _shade(vertices, faces, Ks, H * s, W * s, color, light_dir, ambient,
                             diffuse, shading, near)
    dev = vertices.device
    color_out = torch.zeros(H * W, 3, dtype=torch.float32, device=dev)
    alpha = torch.zeros(H * W, dtype=torch.float32, device=dev)
    zbuf = torch.zeros(H * W, dtype=torch.float32, device=dev)
    if s == 1:                                   # covered pixels are unique: plain writes
        color_out[pix], alpha[pix], zbuf[pix] = rgb, 1.0, depth
        return RenderLayers(color_out.view(H, W, 3), alpha.view(H, W), zbuf.view(H, W))
    # Box filter straight from the sparse subsamples: sum each into the output pixel it
    # falls in (colour premultiplied by coverage, which is 1 per covered subsample).
    row, col = torch.div(pix, W * s, rounding_mode='floor'), pix % (W * s)
    pix = torch.div(row, s, rounding_mode='floor') * W + torch.div(col, s, rounding_mode='floor')
    color_out.index_add_(0, pix, rgb)
    count = alpha.index_add_(0, pix, torch.ones_like(depth))
    color_out /= count.clamp_min(1.0)[:, None]   # un-premultiplied; stays 0 where empty
    alpha = count / (s * s)
    zbuf.fill_(math.inf).scatter_reduce_(0, pix, depth, reduce='amin')
    zbuf = torch.where(torch.isinf(zbuf), torch.zeros_like(zbuf), zbuf)
    return RenderLayers(color_out.view(H, W, 3), alpha.view(H, W), zbuf.view(H, W))


def composite(color: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``color * alpha + background * (1 - alpha)`` for uint8 (H,W,3) images, alpha in
    [0, 1] of shape (H, W); pixels with alpha 0 come back bit-exact."""
    if background.shape != color.shape or background.dtype != np.uint8:
        raise ValueError(f'background must be uint8 of shape {color.shape}, got '
                         f'{background.dtype} {background.shape}')
    a = np.asarray(alpha, np.float32)[..., None]
    out = color.astype(np.float32) * a + background.astype(np.float32) * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def render_mesh(vertices, faces, K, image_size: Sequence[int],
                color: Union[Sequence[float], np.ndarray, torch.Tensor] = DEFAULT_COLOR,
                light_dir: Sequence[float] = DEFAULT_LIGHT_DIR, ambient: float = 0.35,
                diffuse: float = 0.65, image: Optional[np.ndarray] = None,
                shading: str = 'flat', antialias: Union[bool, int] = False,
                return_alpha: Optional[bool] = None, channel_order: str = 'bgr',
                near: float = 1e-3) -> np.ndarray:
    """Render one mesh to a uint8 image (see :func:`render_layers` for the shading args).

    Args:
        image: optional (H, W, 3) uint8 background in ``channel_order``; the mesh is
            alpha-composited over it (background pixels come back unchanged).
        return_alpha: append the mesh's coverage as a 4th uint8 channel (0 = background).
            ``None`` (default) means True without ``image`` and False with it. Without
            ``image`` the colour channels are then straight (not premultiplied) colour, as
            RGBA PNGs expect; without ``image`` and alpha the mesh is composited on black.
        channel_order: 'bgr' (OpenCV, default) or 'rgb' for both ``image`` and the output.

    Returns:
        (H, W, 3) or (H, W, 4) uint8.
    """
    if channel_order not in ('bgr', 'rgb'):
        raise ValueError(f"channel_order must be 'bgr' or 'rgb', got {channel_order!r}")
    layers = render_layers(vertices, faces, K, image_size, color, light_dir, ambient,
                           diffuse, shading, antialias, near)
    rgb = (layers.color.cpu().numpy() * 255.0).round().astype(np.uint8)
    if channel_order == 'bgr':
        rgb = np.ascontiguousarray(rgb[..., ::-1])
    alpha = layers.alpha.cpu().numpy()
    if return_alpha is None:
        return_alpha = image is None
    if image is not None:
        out = composite(rgb, alpha, np.asarray(image))
    elif return_alpha:
        out = rgb                      # straight (unpremultiplied) colour, as RGBA PNGs expect
    else:
        out = composite(rgb, alpha, np.zeros_like(rgb))
    if return_alpha:
        a8 = np.clip(np.rint(alpha * 255.0), 0, 255).astype(np.uint8)
        out = np.concatenate([out, a8[..., None]], axis=2)
    return out


@torch.no_grad()
def side_view_camera(vertices, image_size: Sequence[int], angle_deg: float = 90.0,
                     margin: float = 0.1, distance: float = 3.0
                     ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Rotate ``vertices`` by ``angle_deg`` about the vertical (camera y) axis through
    their centroid, place them ``distance`` bounding radii in front of the camera and pick
    a K whose projection fits the frame with ``margin`` (fraction of the size) to spare.

    Returns (camera-frame vertices (V, 3), K (3, 3)) in the vertices' float dtype.
    """
    v = _as_tensor(vertices)
    v = v if v.is_floating_point() else v.to(torch.float32)
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] == 0:
        raise ValueError(f'vertices must be a non-empty (V, 3) array, got {tuple(v.shape)}')
    H, W = (int(s) for s in image_size)
    t = math.radians(angle_deg)
    # Positive angle turns +z (forward) towards +x: the camera then sees the mesh's left.
    R = v.new_tensor([[math.cos(t), 0, math.sin(t)], [0, 1, 0], [-math.sin(t), 0, math.cos(t)]])
    c = v.mean(0)
    local = (v - c) @ R.T
    radius = float(local.norm(dim=1).max().clamp_min(1e-9))
    cam = local + v.new_tensor([0.0, 0.0, distance * radius])
    xn, yn = cam[:, 0] / cam[:, 2], cam[:, 1] / cam[:, 2]
    span_x = float(xn.max() - xn.min()) or 1e-9
    span_y = float(yn.max() - yn.min()) or 1e-9
    f = (1.0 - 2.0 * margin) * min(W / span_x, H / span_y)
    cx = W / 2.0 - f * float(xn.max() + xn.min()) / 2.0
    cy = H / 2.0 - f * float(yn.max() + yn.min()) / 2.0
    K = v.new_tensor([[f, 0, cx], [0, f, cy], [0, 0, 1]])
    return cam, K


def render_side_view(vertices, faces, image_size: Sequence[int], angle_deg: float = 90.0,
                     margin: float = 0.1, **render_kwargs) -> np.ndarray:
    """Render the mesh turned ``angle_deg`` about its centroid's vertical axis, with an
    automatic camera that frames it (see :func:`side_view_camera`). ``render_kwargs`` go
    to :func:`render_mesh` (colour, shading, ``image`` background, ...)."""
    cam, K = side_view_camera(vertices, image_size, angle_deg, margin)
    return render_mesh(cam, faces, K, image_size, **render_kwargs)
