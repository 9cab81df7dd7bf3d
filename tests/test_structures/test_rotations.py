import math

import numpy as np
import pytest
import torch
from smplx.lbs import batch_rodrigues

from mmhandmim.structures.rotations import (aa_to_mat, axis_angle_to_matrix, chordal_mean,
                                           mat_to_aa, matrix_to_axis_angle, matrix_to_rot6d,
                                           rot6d_to_matrix)


def _axis_angles(n=500):
    g = torch.Generator().manual_seed(0)
    axis = torch.nn.functional.normalize(torch.randn(n, 3, generator=g, dtype=torch.float64),
                                         dim=-1)
    angle = torch.rand(n, 1, generator=g, dtype=torch.float64) * (math.pi - 1e-3)
    aa = axis * angle
    aa[0] = 0.0
    aa[1] = torch.tensor([1e-9, 0, 0])
    aa[2] = torch.tensor([0, 0, math.pi - 1e-7])
    return aa


def test_axis_angle_matrix_round_trip_and_rodrigues():
    aa = _axis_angles()
    rot = axis_angle_to_matrix(aa)
    eye = torch.eye(3, dtype=aa.dtype)
    assert torch.allclose(rot @ rot.transpose(-1, -2), eye.expand_as(rot), atol=1e-12)
    assert torch.allclose(torch.det(rot), torch.ones(len(aa), dtype=aa.dtype))
    assert torch.allclose(rot, batch_rodrigues(aa), atol=1e-7)   # smplx adds a 1e-8 epsilon
    assert torch.allclose(matrix_to_axis_angle(rot), aa, atol=1e-6)
    assert torch.allclose(axis_angle_to_matrix(matrix_to_axis_angle(rot)), rot, atol=1e-10)


def test_known_rotation_and_batch_shapes():
    rot = axis_angle_to_matrix(torch.tensor([0.0, 0.0, math.pi / 2]))
    assert torch.allclose(rot @ torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]),
                          atol=1e-6)
    x = torch.randn(2, 4, 16, 3)
    assert axis_angle_to_matrix(x).shape == (2, 4, 16, 3, 3)
    assert matrix_to_axis_angle(axis_angle_to_matrix(x)).shape == x.shape


def test_rot6d_round_trip_and_column_convention():
    rot = axis_angle_to_matrix(_axis_angles())
    six = matrix_to_rot6d(rot)
    assert torch.equal(six[..., :3], rot[..., :, 0]) and torch.equal(six[..., 3:], rot[..., :, 1])
    assert torch.allclose(rot6d_to_matrix(six), rot, atol=1e-12)
    # arbitrary 6D vectors map to proper rotations, and are fixed points after one projection
    raw = torch.randn(100, 6, dtype=torch.float64)
    r = rot6d_to_matrix(raw)
    assert torch.allclose(torch.det(r), torch.ones(100, dtype=r.dtype))
    assert torch.allclose(rot6d_to_matrix(matrix_to_rot6d(r)), r, atol=1e-12)


def test_gradients_are_finite_at_zero_rotation():
    aa = torch.zeros(3, 3, requires_grad=True)
    axis_angle_to_matrix(aa).sum().backward()
    assert torch.isfinite(aa.grad).all()
    rot = torch.eye(3).repeat(2, 1, 1).requires_grad_()
    matrix_to_axis_angle(rot).sum().backward()
    assert torch.isfinite(rot.grad).all()


# --- chordal mean ----------------------------------------------------------------------
def random_rotations(n, seed):
    g = torch.Generator().manual_seed(seed)
    return axis_angle_to_matrix(torch.randn(n, 3, generator=g, dtype=torch.float64))


def test_mean_of_identical_rotations_is_that_rotation():
    R = random_rotations(16, 0)
    torch.testing.assert_close(chordal_mean(R[None].expand(7, -1, -1, -1)), R,
                               atol=1e-12, rtol=0)


def test_chordal_mean_of_a_symmetric_set_is_its_centre():
    centre = random_rotations(3, 1)                              # 3 "joints"
    axes = torch.nn.functional.normalize(torch.randn(5, 3, dtype=torch.float64), dim=-1)
    offsets = []
    for axis, angle in zip(axes, (0.3, 0.6, 0.9, 1.2, 0.5)):   # all below 90 degrees
        offsets += [axis_angle_to_matrix(axis * angle), axis_angle_to_matrix(-axis * angle)]
    offsets = torch.stack(offsets)                               # (10, 3, 3)
    samples = centre[None] @ offsets[:, None]                    # (10, 3 joints, 3, 3)
    mean = chordal_mean(samples)
    torch.testing.assert_close(mean, centre, atol=1e-12, rtol=0)
    assert not torch.allclose(samples.mean(0), centre, atol=1e-3)  # plain average is not


def test_projection_fixes_the_determinant():
    # the average of 180-degree turns about x, y, z is -I/3: the nearest orthogonal matrix is
    # -I (a reflection); the det fix returns a proper rotation
    half_turns = axis_angle_to_matrix(torch.eye(3, dtype=torch.float64) * np.pi)
    mean = chordal_mean(half_turns)
    torch.testing.assert_close(mean @ mean.T, torch.eye(3, dtype=torch.float64))
    assert torch.det(mean).item() == pytest.approx(1.0)


def test_numpy_front_ends_invert_each_other_in_float64():
    aa = _axis_angles(50).numpy()
    mats = aa_to_mat(aa)
    assert mats.dtype == np.float64
    np.testing.assert_allclose(aa_to_mat(mat_to_aa(mats)), mats, atol=1e-12)


def test_numpy_front_ends_equal_the_torch_functions():
    """aa_to_mat / mat_to_aa are numpy rewrites (speed): the same maths as the torch ones,
    at every angle including 0, tiny and 180 degrees, and for any leading shape."""
    aa = _axis_angles()
    half_turns = torch.tensor([[math.pi, 0, 0], [0, math.pi, 0], [0, 0, math.pi],
                               [math.pi / math.sqrt(2), -math.pi / math.sqrt(2), 0]],
                              dtype=torch.float64)
    aa = torch.cat([aa, half_turns])
    rot = axis_angle_to_matrix(aa)
    np.testing.assert_allclose(aa_to_mat(aa.numpy()), rot.numpy(), rtol=0, atol=1e-15)
    np.testing.assert_allclose(mat_to_aa(rot.numpy()), matrix_to_axis_angle(rot).numpy(),
                               rtol=0, atol=1e-13)
    # shapes: a single vector / matrix and (2, 3, ...) batches; lists and float32 accepted
    assert aa_to_mat([0.1, 0.2, 0.3]).shape == (3, 3)
    assert mat_to_aa(np.eye(3)).shape == (3, )
    np.testing.assert_allclose(mat_to_aa(np.eye(3)), 0, atol=0)
    batch = aa[:6].numpy().reshape(2, 3, 3)
    np.testing.assert_allclose(mat_to_aa(aa_to_mat(batch.astype(np.float32))).reshape(6, 3),
                               aa[:6].numpy(), atol=1e-6)
