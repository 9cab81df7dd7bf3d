"""View geometry: exact forward/inverse maps, pose alignment = eq. 4, and the warped pixels."""
import math

import numpy as np
import pytest
import torch

from mmhandmim.datasets.transforms.multiview import HandMultiView
from mmhandmim.structures.view_affine import (make_view_affine, normalized_to_pixel,
                                                          pixel_to_normalized, source_to_view,
                                                          view_to_source)
from mmhandmim.models.selfsup import align_pseudo_keypoints


def _random_affines(n, seed=0, width=96, height=80):
    t = HandMultiView(view_size=64, seed=seed)
    rng = np.random.default_rng(seed)
    return torch.from_numpy(np.stack([t.sample_geometry(rng, width, height, t.crop_scale)
                                      for _ in range(n)]))


def test_source_view_round_trip_is_identity():
    affines = _random_affines(200)  # float64, (200, 2, 3)
    u = torch.rand(200, 50, 2, dtype=torch.float64) * 2 - 1
    v = source_to_view(u, affines)
    assert not torch.allclose(v, u)
    torch.testing.assert_close(view_to_source(v, affines), u, atol=1e-5, rtol=0)
    # float32, as the model uses it
    back = view_to_source(source_to_view(u.float(), affines.float()), affines.float())
    torch.testing.assert_close(back, u.float(), atol=1e-5, rtol=0)


def test_one_source_point_seen_in_two_views_maps_back_to_one_place():
    g1, g2 = _random_affines(100, seed=1), _random_affines(100, seed=2)
    u = torch.rand(100, 21, 2, dtype=torch.float64) * 2 - 1
    v1, v2 = source_to_view(u, g1), source_to_view(u, g2)
    assert (v1 - v2).abs().max() > 0.1  # the views really differ
    torch.testing.assert_close(view_to_source(v1, g1), view_to_source(v2, g2), atol=1e-5,
                               rtol=0)


def test_literal_alignment_is_the_papers_eq4():
    """align(z) == diag(s)^-1 (R^-1 tau + (a, b)) with (a, b) = diag(s) c, written out."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        c, s, deg = rng.uniform(-0.5, 0.5, 2), rng.uniform(1, 4, 2), rng.uniform(-150, 150)
        affine = torch.from_numpy(make_view_affine(c, s, deg)).float()
        tau = torch.randn(4, 128, 2) * 3  # unbounded latents
        z = tau.flatten(1)  # the 256-d bottleneck, interleaved (x, y)
        out = align_pseudo_keypoints(z, affine.expand(4, 2, 3), 'eq4')
        th = math.radians(deg)
        r_inv = torch.tensor([[math.cos(th), math.sin(th)], [-math.sin(th), math.cos(th)]])
        ab = torch.tensor(s * c, dtype=torch.float32)
        expected = (tau @ r_inv.T + ab) / torch.tensor(s, dtype=torch.float32)
        torch.testing.assert_close(out.unflatten(-1, (128, 2)), expected, atol=1e-4, rtol=1e-5)
        # and it is the geometric inverse of the view map
        torch.testing.assert_close(align_pseudo_keypoints(source_to_view(tau, affine).flatten(1),
                                                          affine.expand(4, 2, 3), 'eq4'),
                                   z, atol=1e-4, rtol=1e-5)


def test_other_alignment_modes_written_out():
    """centred: real points seen in any view map to their source positions minus their
    centroid; linear: A^-1 v; unit_rms: eq. 4 of the points scaled to unit RMS radius."""
    g = _random_affines(6, seed=4).float()
    u = torch.rand(6, 128, 2) * 2 - 1  # "real keypoints" in the source
    v = source_to_view(u, g)
    centred = align_pseudo_keypoints(v.flatten(1), g, 'centred').unflatten(-1, (128, 2))
    torch.testing.assert_close(centred, u - u.mean(1, keepdim=True), atol=1e-5, rtol=0)
    lin = g[..., :2]
    linear = align_pseudo_keypoints(v.flatten(1), g, 'linear').unflatten(-1, (128, 2))
    torch.testing.assert_close(linear, v @ torch.linalg.inv(lin).transpose(-1, -2),
                               atol=1e-5, rtol=1e-5)
    rms = v.pow(2).sum(-1).mean(-1).sqrt()[:, None, None]
    torch.testing.assert_close(align_pseudo_keypoints(v.flatten(1), g, 'unit_rms'),
                               align_pseudo_keypoints((v / rms).flatten(1), g, 'eq4'),
                               atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match='centred'):
        align_pseudo_keypoints(v.flatten(1), g, 'eq3')


def test_pixel_normalisation_round_trip():
    p = np.random.default_rng(0).uniform(-5, 100, (30, 2))
    np.testing.assert_allclose(normalized_to_pixel(pixel_to_normalized(p, 96, 80), 96, 80), p)
    # continuous pixel coordinates: the centres of the outer pixels (0.5 and H - 0.5) sit
    # half a pixel inside +-1, the image edges (0 and W) at -1 and +1
    np.testing.assert_allclose(pixel_to_normalized(np.array([[0., 80.]]), 96, 80), [[-1, 1]])
    np.testing.assert_allclose(pixel_to_normalized(np.array([[0.5, 79.5]]), 96, 80),
                               [[1 / 96 - 1, 1 - 1 / 80]])


@pytest.mark.parametrize('seed', range(6))
def test_bright_dot_appears_where_the_geometry_says(seed):
    """Draw a dot in the source, warp with the transform, find it in the view (< 1 px)."""
    width, height, size = 96, 80, 64
    t = HandMultiView(view_size=size, patch_size=16, interpolation='bilinear',
                      crop_scale=(0.3, 1.0), color_jitter_prob=0, grayscale_prob=0,
                      blur_prob=(0, 0), solarize_prob=(0, 0), seed=seed)
    rng = np.random.default_rng(100 + seed)
    checked = 0
    while checked < 5:
        src_px = rng.uniform([15, 15], [width - 15, height - 15])
        yy, xx = np.mgrid[:height, :width]
        dot = np.exp(-((xx - src_px[0])**2 + (yy - src_px[1])**2) / (2 * 1.5**2))
        img = np.repeat((dot * 255).round().astype(np.uint8)[..., None], 3, 2)
        out = t(dict(img=img))
        view = out['img'][0][..., 0].astype(np.float64)
        # the dot is centred on array index src_px, i.e. continuous coordinate src_px + 0.5
        u = torch.from_numpy(pixel_to_normalized(src_px + 0.5, width, height))[None]
        v = source_to_view(u, out['view_geometry'][0].double())[0].numpy()
        pred = normalized_to_pixel(v, size, size) - 0.5  # back to array indices
        if not (6 <= pred[0] <= size - 7 and 6 <= pred[1] <= size - 7):
            continue  # the dot fell outside this view
        w = np.where(view > 0.3 * view.max(), view, 0)
        found = np.array([(w * np.arange(size)[None]).sum(), (w * np.arange(size)[:, None]).sum()
                          ]) / w.sum()
        # asked: 1 px; measured <= 0.15 px, so 0.35 px also catches half-pixel slips
        assert np.linalg.norm(found - pred) < 0.35, (found, pred)
        checked += 1


def test_views_get_fresh_random_parameters_per_call():
    t = HandMultiView(view_size=32, patch_size=16, seed=0)
    img = np.zeros((40, 40, 3), np.uint8)
    g = [t(dict(img=img))['view_geometry'] for _ in range(3)]
    assert not torch.equal(g[0], g[1]) and not torch.equal(g[1], g[2])
    assert not torch.equal(g[0][0], g[0][1])
    # without a seed: drawn from numpy's global state (seeded per worker by mmengine)
    t = HandMultiView(view_size=32, patch_size=16)
    np.random.seed(5)
    a = t(dict(img=img))['view_geometry']
    np.random.seed(5)
    torch.testing.assert_close(t(dict(img=img))['view_geometry'], a)


def test_multiview_output_layout():
    t = HandMultiView(view_size=32, patch_size=16, num_local_views=3, local_view_size=16,
                      seed=0)
    out = t(dict(img=np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)))
    assert [v.shape for v in out['img']] == [(32, 32, 3)] * 2 + [(16, 16, 3)] * 3
    assert all(v.dtype == np.uint8 for v in out['img'])
    assert out['mask'].shape == (2, 2, 2) and out['mask'].dtype == torch.bool
    assert out['view_geometry'].shape == (5, 2, 3)
    with pytest.raises(ValueError, match='multiple'):
        HandMultiView(view_size=30, patch_size=16)


def test_rotated_view_borders_filled_as_configured():
    """A 45 deg view of the whole source has corners outside it: black with 'constant', the
    source's own colour with 'reflect'/'replicate'."""
    src = np.full((80, 80, 3), 200, np.uint8)
    affine = make_view_affine((0., 0.), (1., 1.), 45.)
    for mode, corner in (('constant', 0), ('reflect', 200), ('replicate', 200)):
        t = HandMultiView(view_size=64, border_mode=mode, interpolation='bilinear')
        view = t.warp(src, affine, 64)
        assert view[0, 0].tolist() == [corner] * 3, mode
        assert view[32, 32].tolist() == [200] * 3
    with pytest.raises(ValueError, match='border_mode'):
        HandMultiView(border_mode='wrap')
