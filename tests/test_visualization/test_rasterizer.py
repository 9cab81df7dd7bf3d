"""Rasteriser geometry: coverage, pixel-centre convention, z-buffer, depth, barycentrics."""
import numpy as np
import pytest
import torch

from mmhandmim.visualization.rasterizer import rasterize

K = torch.tensor([[10.0, 0.0, 8.3], [0.0, 12.0, 9.7], [0.0, 0.0, 1.0]], dtype=torch.float64)


def unproject(uv, z, K=K):
    """Camera-frame points at depth ``z`` whose projections are ``uv`` (N, 2)."""
    uv = torch.as_tensor(uv, dtype=torch.float64)
    z = torch.as_tensor(z, dtype=torch.float64).expand(uv.shape[0])
    rays = torch.cat([uv, torch.ones(uv.shape[0], 1, dtype=torch.float64)], 1) @ torch.inverse(K).T
    return rays * z[:, None]


def expected_coverage(tri_uv, H, W):
    """Reference: pixel centres (c + .5, r + .5) inside the 2D triangle, by explicit loops."""
    (x0, y0), (x1, y1), (x2, y2) = tri_uv
    out = np.zeros((H, W), bool)
    for r in range(H):
        for c in range(W):
            px, py = c + 0.5, r + 0.5
            e = [(x1 - x0) * (py - y0) - (y1 - y0) * (px - x0),
                 (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1),
                 (x0 - x2) * (py - y2) - (y0 - y2) * (px - x2)]
            out[r, c] = all(v >= 0 for v in e) or all(v <= 0 for v in e)
    return out


@pytest.mark.parametrize('winding', [(0, 1, 2), (0, 2, 1)])
def test_triangle_covers_expected_pixels(winding):
    tri_uv = [(2.17, 1.33), (15.61, 6.09), (5.43, 17.87)]  # no pixel centre on an edge
    H, W = 20, 18
    # Different depths per vertex: coverage must depend on the projection only.
    verts = unproject(tri_uv, torch.tensor([2.0, 3.5, 5.0])).float()
    frags = rasterize(verts, torch.tensor([winding]), K, (H, W))
    expected = expected_coverage(tri_uv, H, W)
    assert expected.sum() > 50
    np.testing.assert_array_equal(frags.mask.numpy(), expected)
    assert set(frags.face_idx.unique().tolist()) == {-1, 0}


def test_point_lands_in_column_floor_u():
    # A tiny triangle around the screen point (5.3, 7.8) covers pixel centre (5.5, 7.5)
    # only: row floor(7.8) = 7, column floor(5.3) = 5.
    tri_uv = [(5.05, 7.05), (5.95, 7.1), (5.3, 7.95)]
    frags = rasterize(unproject(tri_uv, 1.7), torch.tensor([[0, 1, 2]]), K, (20, 18))
    assert frags.mask.nonzero().tolist() == [[7, 5]]


def quad(z, x0, x1, y0, y1):
    v = torch.tensor([[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]], dtype=torch.float32)
    return v, torch.tensor([[0, 1, 2], [0, 2, 3]])


def test_nearer_face_occludes_and_face_order_does_not_matter():
    near_v, near_f = quad(2.0, -0.5, 0.3, -0.5, 0.3)
    far_v, far_f = quad(3.0, -0.3, 1.2, -0.3, 1.2)
    verts = torch.cat([near_v, far_v])
    faces_a = torch.cat([near_f, far_f + 4])       # faces 0,1 near; 2,3 far
    faces_b = torch.cat([far_f + 4, near_f])       # faces 0,1 far; 2,3 near
    fa = rasterize(verts, faces_a, K, (20, 18))
    fb = rasterize(verts, faces_b, K, (20, 18))
    near_a, far_a = (fa.face_idx >= 0) & (fa.face_idx < 2), fa.face_idx >= 2
    near_b, far_b = fb.face_idx >= 2, (fb.face_idx >= 0) & (fb.face_idx < 2)
    assert torch.equal(near_a, near_b) and torch.equal(far_a, far_b)
    assert torch.equal(fa.depth, fb.depth)
    # Where both quads project, the near one wins.
    alone_far = rasterize(far_v, far_f, K, (20, 18)).mask
    alone_near = rasterize(near_v, near_f, K, (20, 18)).mask
    overlap = alone_far & alone_near
    assert overlap.sum() > 10
    assert near_a[overlap].all()
    assert torch.allclose(fa.depth[overlap], torch.tensor(2.0))
    assert far_a.sum() > 0 and torch.allclose(fa.depth[far_a], torch.tensor(3.0))


def tilted_plane_mesh():
    """Two triangles on the plane n . X = d, seen obliquely."""
    n, d = torch.tensor([0.3, -0.2, 1.0], dtype=torch.float64), 2.0
    xy = torch.tensor([[-1.5, -1.2], [1.4, -1.3], [1.3, 1.4], [-1.2, 1.1]], dtype=torch.float64)
    z = (d - xy @ n[:2]) / n[2]
    return torch.cat([xy, z[:, None]], 1), torch.tensor([[0, 1, 2], [0, 2, 3]]), n, d


def test_depth_matches_analytic_plane():
    verts, faces, n, d = tilted_plane_mesh()
    H, W = 20, 18
    frags = rasterize(verts, faces, K, (H, W))
    rows, cols = frags.mask.nonzero(as_tuple=True)
    assert rows.numel() > 100
    uv1 = torch.stack([cols + 0.5, rows + 0.5, torch.ones_like(rows)], 1).to(torch.float64)
    rays = uv1 @ torch.inverse(K).T                 # rays with z = 1
    expected = d / (rays @ n)
    torch.testing.assert_close(frags.depth[rows, cols], expected, rtol=1e-10, atol=1e-10)


def test_barycentrics_reproduce_pixel_centre():
    verts, faces, _, _ = tilted_plane_mesh()
    frags = rasterize(verts, faces, K, (20, 18))
    rows, cols = frags.mask.nonzero(as_tuple=True)
    bary = frags.bary[rows, cols]
    assert (bary >= -1e-12).all() and torch.allclose(bary.sum(1), torch.ones(len(rows),
                                                                              dtype=bary.dtype))
    points = (verts[faces[frags.face_idx[rows, cols]]] * bary[..., None]).sum(1)
    proj = points @ K.T
    uv = proj[:, :2] / proj[:, 2:]
    torch.testing.assert_close(uv, torch.stack([cols + 0.5, rows + 0.5], 1).to(uv.dtype))
    torch.testing.assert_close(points[:, 2], frags.depth[rows, cols])


def test_faces_behind_camera_or_crossing_near_plane_are_dropped():
    front = unproject([(2.1, 2.2), (14.3, 3.1), (7.7, 16.2)], 2.0)
    behind = -front                                  # mirrored through the camera: z < 0
    crossing = front.clone()
    crossing[2, 2] = -0.5
    verts = torch.cat([behind, crossing, front]).float()
    faces = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    frags = rasterize(verts, faces, K, (20, 18))
    assert set(frags.face_idx.unique().tolist()) == {-1, 2}
    only_bad = rasterize(verts, faces[:2], K, (20, 18))
    assert not only_bad.mask.any()


def test_chunking_and_offscreen_faces_give_same_result():
    verts, faces, _, _ = tilted_plane_mesh()
    verts = torch.cat([verts, verts + torch.tensor([30.0, 0.0, 0.0], dtype=torch.float64)])
    faces = torch.cat([faces, faces + 4])            # second copy is far off-screen
    a = rasterize(verts, faces, K, (20, 18))
    b = rasterize(verts, faces, K, (20, 18), max_candidates=7)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert a.face_idx.max() < 2 and a.face_idx.max() >= 0


def test_empty_mesh_and_dtype_follow_vertices():
    frags = rasterize(torch.zeros(0, 3), torch.zeros(0, 3, dtype=torch.long), K, (4, 5))
    assert frags.face_idx.shape == (4, 5) and (frags.face_idx == -1).all()
    assert frags.bary.shape == (4, 5, 3) and frags.bary.dtype == torch.float32
    assert frags.depth.dtype == torch.float32


@pytest.mark.parametrize('args, err', [
    ((torch.zeros(3, 2), torch.tensor([[0, 1, 2]]), K, (4, 4)), ValueError),
    ((torch.zeros(3, 3, dtype=torch.long), torch.tensor([[0, 1, 2]]), K, (4, 4)), TypeError),
    ((torch.zeros(3, 3), torch.tensor([[0.0, 1, 2]]), K, (4, 4)), TypeError),
    ((torch.zeros(3, 3), torch.tensor([[0, 1, 2, 0]]), K, (4, 4)), ValueError),
    ((torch.zeros(3, 3), torch.tensor([[0, 1, 3]]), K, (4, 4)), ValueError),
    ((torch.zeros(3, 3), torch.tensor([[0, 1, 2]]), K[:2], (4, 4)), ValueError),
    ((torch.zeros(3, 3), torch.tensor([[0, 1, 2]]), K, (4,)), ValueError),
    ((np.zeros((3, 3)), torch.tensor([[0, 1, 2]]), K, (4, 4)), ValueError),
])
def test_bad_inputs_raise(args, err):
    with pytest.raises(err):
        rasterize(*args)
