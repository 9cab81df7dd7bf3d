"""Left/right detection of MANO-format files from their rest skeleton (handedness.py)."""
import shutil

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from mmhandmim.hand_model import MANOLayer
from mmhandmim.hand_model.handedness import rest_joints, thumb_side_cosine
from mmhandmim.hand_model.mano_io import load_mano_dict, resolve_mano_file


def standin_joints(is_rhand):
    return rest_joints(load_mano_dict(resolve_mano_file('standin', is_rhand=is_rhand)))


def test_sign_tells_the_hands_apart_in_any_pose_of_the_frame():
    right, left = standin_joints(True), standin_joints(False)
    assert thumb_side_cosine(right) > 0.1 and thumb_side_cosine(left) < -0.1
    rng = np.random.default_rng(0)
    for rot in Rotation.random(5, random_state=1).as_matrix():
        moved = right @ rot.T + rng.normal(size=3)  # a rigid motion keeps the hand
        assert thumb_side_cosine(moved) == pytest.approx(thumb_side_cosine(right))
        # any mirror (not only x -> -x) gives the other hand
        mirror = np.diag(rng.choice([-1.0, 1.0], 3) * [1, 1, 1])
        mirror[0, 0] = -np.prod(np.diag(mirror)[1:])  # det = -1
        assert thumb_side_cosine(moved @ mirror) == pytest.approx(-thumb_side_cosine(right))


def test_thumb_in_the_palm_plane_is_undecided():
    j = standin_joints(True).copy()
    wrist, normal = j[0], np.cross(j[1] - j[0], j[7] - j[0])
    normal /= np.linalg.norm(normal)
    j[13:16] -= np.outer((j[13:16] - wrist) @ normal, normal)  # project the thumb onto the plane
    assert abs(thumb_side_cosine(j)) < 1e-9


@pytest.mark.parametrize('is_rhand', [True, False])
def test_layer_accepts_its_own_hand_and_refuses_the_other(tmp_path, is_rhand):
    MANOLayer(model_path='standin', is_rhand=is_rhand)
    other = resolve_mano_file('standin', is_rhand=not is_rhand)
    name = 'MANO_RIGHT.pkl' if is_rhand else 'MANO_LEFT.pkl'
    shutil.copy(other, tmp_path / name)
    with pytest.raises(ValueError, match='check_handedness=False'):
        MANOLayer(model_path=str(tmp_path), is_rhand=is_rhand)
    # the escape hatch loads it as asked
    layer = MANOLayer(model_path=str(tmp_path), is_rhand=is_rhand, check_handedness=False)
    assert layer.is_rhand == is_rhand
