"""Shading, compositing, antialiasing and framing of the mesh renderer."""
import math

import numpy as np
import pytest
import torch

from mmhandmim.visualization import (render_layers, render_mesh, render_side_view,
                                     side_view_camera)

K = np.array([[60.0, 0.0, 32.0], [0.0, 60.0, 24.0], [0.0, 0.0, 1.0]])
SIZE = (48, 64)


def square(z=2.0, half=0.5, flip=False):
    v = np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    f = np.array([[0, 1, 2], [0, 2, 3]])
    return v, (f[:, ::-1].copy() if flip else f)


def test_composite_leaves_background_unchanged_and_alpha_zero_there():
    v, f = square()
    bg = np.random.default_rng(0).integers(0, 256, SIZE + (3,), dtype=np.uint8)
    out = render_mesh(v, f, K, SIZE, image=bg, return_alpha=True)
    assert out.shape == SIZE + (4,) and out.dtype == np.uint8
    alpha = out[..., 3]
    background = alpha == 0
    assert background.sum() > 1000 and (alpha == 255).sum() > 500
    np.testing.assert_array_equal(out[..., :3][background], bg[background])
    assert not np.array_equal(out[..., :3][~background], bg[~background])
    # Default with a background image: 3 channels, same pixels.
    np.testing.assert_array_equal(render_mesh(v, f, K, SIZE, image=bg), out[..., :3])


@pytest.mark.parametrize('flip', [False, True])
@pytest.mark.parametrize('shading', ['flat', 'smooth'])
@pytest.mark.parametrize('angle', [0.0, 35.0, 70.0, 120.0])
def test_flat_plane_follows_lambert(flip, shading, angle):
    # The square faces the camera (either winding: the normal is flipped to face it);
    # light tilted `angle` degrees away from the normal (0, 0, -1).
    v, f = square(flip=flip)
    t = math.radians(angle)
    light = (math.sin(t), 0.0, -math.cos(t))
    ambient, diffuse, color = 0.2, 0.7, (1.0, 0.5, 0.25)
    kw = dict(color=color, light_dir=light, ambient=ambient, diffuse=diffuse, shading=shading)
    expected = np.array(color) * (ambient + diffuse * max(math.cos(t), 0.0))
    layers = render_layers(v, f, K, SIZE, **kw)
    inside = layers.mask.numpy()
    assert inside.sum() == 30 * 30
    np.testing.assert_allclose(layers.color.numpy()[inside], np.broadcast_to(expected, (900, 3)),
                               rtol=0, atol=1e-6)
    out = render_mesh(v, f, K, SIZE, channel_order='rgb', **kw)
    np.testing.assert_allclose(out[inside][:, :3], np.broadcast_to(expected * 255, (900, 3)),
                               rtol=0, atol=0.5 + 1e-3)


def test_channel_order_and_per_vertex_colours():
    v, f = square()
    red = np.tile([[1.0, 0.0, 0.0]], (4, 1))
    kw = dict(color=red, light_dir=(0, 0, -1), ambient=1.0, diffuse=0.0)
    bgr = render_mesh(v, f, K, SIZE, **kw)
    rgb = render_mesh(v, f, K, SIZE, channel_order='rgb', **kw)
    assert tuple(bgr[24, 32]) == (0, 0, 255, 255)
    assert tuple(rgb[24, 32]) == (255, 0, 0, 255)
    # A colour ramp across x is interpolated perspective-correctly: it stays linear in x
    # on a fronto-parallel plane, so the row is monotonic from left to right.
    ramp = np.stack([(v[:, 0] + 0.5), np.zeros(4), np.zeros(4)], 1)
    row = render_layers(v, f, K, SIZE, color=ramp, ambient=1.0, diffuse=0.0).color[24, :, 0]
    covered = row[row > 0]
    assert (covered[1:] > covered[:-1]).all()
    with pytest.raises(ValueError):
        render_mesh(v, f, K, SIZE, color=np.ones((5, 3)))


def test_antialiasing_gives_fractional_alpha_on_edges():
    # Edges at u = 32 +- 60 * 0.3 / 2.0 = 23 and 41 fall mid-pixel after the shift below.
    v, f = square(half=0.3)
    v = v + [0.25 / 30, 0.25 / 30, 0.0]             # edges 1/4 px into a pixel
    layers = render_layers(v, f, K, SIZE, antialias=4)
    alpha = layers.alpha.numpy()
    frac = (alpha > 0) & (alpha < 1)
    assert frac.sum() > 40
    assert alpha[24, 32] == 1.0 and alpha[0, 0] == 0.0
    # Total coverage equals the projected area: (2 * 60 * 0.3 / 2) ** 2 = 324 px.
    assert abs(alpha.sum() - 324.0) < 1.0
    hard = render_layers(v, f, K, SIZE).alpha.numpy()
    assert set(np.unique(hard)) == {0.0, 1.0}
    out = render_mesh(v, f, K, SIZE, antialias=4)
    assert ((out[..., 3] > 0) & (out[..., 3] < 255)).sum() == frac.sum()
    assert torch.equal(layers.mask, layers.alpha >= 0.5)


def test_sphere_silhouette_area(uv_sphere):
    v, f = uv_sphere(48, 64)
    r, z, fpx = 0.1, 0.6, 400.0
    H = W = 160
    Ks = np.array([[fpx, 0, W / 2], [0, fpx, H / 2], [0, 0, 1]])
    mask = render_layers(v * r + [0, 0, z], f, Ks, (H, W)).mask
    # A sphere's silhouette on the optical axis is a circle of radius f r / sqrt(z^2 - r^2).
    r_px = fpx * r / math.sqrt(z * z - r * r)
    expected = math.pi * r_px ** 2
    assert abs(mask.sum().item() - expected) / expected < 0.02


def test_side_view_fits_frame(uv_sphere):
    v, f = uv_sphere(12, 16)
    v = v * [0.03, 0.08, 0.01] + [0.1, -0.05, 0.7]  # thin along z: side view shows x<->z
    H, W = 120, 100
    out = render_side_view(v, f, (H, W), margin=0.1)
    rows, cols = np.nonzero(out[..., 3])
    assert out.shape == (H, W, 4)
    # Tall object: fills the height up to the 10 % margins, and is centred horizontally.
    assert abs(rows.min() - 0.1 * H) <= 1.5 and abs(rows.max() + 1 - 0.9 * H) <= 1.5
    assert abs((cols.min() + cols.max() + 1) / 2 - W / 2) <= 1.5
    cam, Kc = side_view_camera(v, (H, W))
    # After the 90 degree turn the old z extent (0.01) is across the image, x (0.03) along z.
    extent = cam.max(0).values - cam.min(0).values
    assert extent[0] < extent[2] and float(Kc[0, 0]) > 0


def test_bad_renderer_args():
    v, f = square()
    with pytest.raises(ValueError):
        render_mesh(v, f, K, SIZE, shading='phong')
    with pytest.raises(ValueError):
        render_mesh(v, f, K, SIZE, channel_order='bgra')
    with pytest.raises(ValueError):
        render_mesh(v, f, K, SIZE, image=np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(ValueError):
        render_mesh(v, f, K, SIZE, antialias=0)
    with pytest.raises(TypeError):
        render_mesh(v, f.astype(np.float32), K, SIZE)
