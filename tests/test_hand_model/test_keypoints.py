import numpy as np
import pytest
import torch

from mmhandmim.hand_model import keypoints as kp


def test_conversion_arrays_agree_with_name_lists():
    ho3d, frei = kp.KEYPOINT_NAMES['ho3d'], kp.KEYPOINT_NAMES['freihand']
    assert [ho3d[i] for i in kp.FREIHAND_FROM_HO3D] == list(frei)
    assert [frei[i] for i in kp.HO3D_FROM_FREIHAND] == list(ho3d)
    assert kp.FREIHAND_FROM_HO3D.tolist() == [0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10,
                                              11, 12, 19, 7, 8, 9, 20]
    assert kp.HO3D_FROM_FREIHAND.tolist() == [0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15,
                                              1, 2, 3, 4, 8, 12, 16, 20]


@pytest.mark.parametrize('as_torch', [False, True])
def test_convert_round_trip_numpy_and_torch(as_torch):
    x = np.random.default_rng(0).normal(size=(2, 3, 21, 3))
    if as_torch:
        x = torch.from_numpy(x)
    y = kp.convert_keypoints(x, 'ho3d', 'freihand')
    assert type(y) is type(x)
    back = kp.convert_keypoints(y, 'freihand', 'ho3d')
    assert np.array_equal(np.asarray(back), np.asarray(x))
    # a named point lands where its name says
    i_src = kp.KEYPOINT_NAMES['ho3d'].index('ring_tip')
    i_dst = kp.KEYPOINT_NAMES['freihand'].index('ring_tip')
    assert np.array_equal(np.asarray(y)[..., i_dst, :], np.asarray(x)[..., i_src, :])


def test_convert_rejects_wrong_sizes_and_missing_points():
    with pytest.raises(ValueError, match='21 keypoints'):
        kp.convert_keypoints(np.zeros((16, 3)), 'ho3d', 'freihand')
    with pytest.raises(ValueError, match='lacks'):
        kp.convert_keypoints(np.zeros((16, 3)), 'mano16', 'freihand')
    with pytest.raises(ValueError, match='Unknown keypoint order'):
        kp.convert_keypoints(np.zeros((21, 3)), 'coco', 'freihand')
    assert np.array_equal(kp.convert_keypoints(np.arange(63.).reshape(21, 3), 'ho3d', 'mano16'),
                          np.arange(48.).reshape(16, 3))


def test_parents_follow_mano_tree_and_fingers():
    assert kp.keypoint_parents('mano16') == kp.MANO16_PARENTS
    for order in ('freihand', 'ho3d'):
        names, parents = kp.KEYPOINT_NAMES[order], kp.keypoint_parents(order)
        assert parents[0] == -1 and all(p >= 0 for p in parents[1:])
        for parent, child in kp.skeleton_links(order):
            # every bone stays within one finger, or starts at the wrist
            assert names[parent] == 'wrist' or names[parent].split('_')[0] == \
                names[child].split('_')[0]
    frei = kp.keypoint_parents('freihand')
    assert frei[4] == 3 and frei[5] == 0 and frei[20] == 19


def test_fingertip_conventions():
    assert kp.fingertip_ids('freihand') == (744, 320, 443, 555, 672)
    assert kp.fingertip_ids('ho3d') == (744, 333, 444, 555, 672)
    assert kp.fingertip_ids('common') == (745, 317, 444, 556, 673)
    # the stand-in's tips come from its model file (MANOLayer), not from a named convention
    for name in ('mano', 'standin'):
        with pytest.raises(ValueError, match='Unknown fingertip convention'):
            kp.fingertip_ids(name)
