import os

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from smplx.lbs import lbs

from mmhandmim.hand_model.keypoints import FINGERS, MANO16_FINGER_CHAINS, MANO16_PARENTS
from mmhandmim.hand_model.mano_io import STANDIN_KEY, load_mano_dict
from mmhandmim.standin import hand as standin
from mmhandmim.standin.pose import joint_limits, pose_components, sample_betas, sample_hand_pose


def _edges(faces):
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def _skin(data, hand_pose, betas=None):
    """Pose the model with smplx's own LBS (float64), root fixed."""
    t = lambda x: torch.as_tensor(np.asarray(x), dtype=torch.float64)  # noqa: E731
    n = len(hand_pose)
    pose = torch.cat([torch.zeros(n, 3, dtype=torch.float64), t(hand_pose)], 1)
    betas = torch.zeros(n, 10, dtype=torch.float64) if betas is None else t(betas)
    v, j = lbs(betas, pose, t(data['v_template']), t(data['shapedirs']),
               t(data['posedirs']).reshape(-1, 135).T, t(data['J_regressor'].toarray()),
               torch.tensor(MANO16_PARENTS), t(data['weights']))
    return v.numpy(), j.numpy()


@pytest.mark.parametrize('side', ['RIGHT', 'LEFT'])
def test_closed_oriented_surface(standin_dir, side):
    data = load_mano_dict(os.path.join(standin_dir, f'MANO_{side}.pkl'))
    v, f = data['v_template'], data['f'].astype(np.int64)
    assert v.shape == (778, 3) and f.shape == (1552, 3)
    undirected = np.sort(_edges(f), 1)
    _, counts = np.unique(undirected, axis=0, return_counts=True)
    assert (counts == 2).all()                       # watertight, manifold
    _, directed = np.unique(_edges(f), axis=0, return_counts=True)
    assert (directed == 1).all()                     # consistent winding
    assert len(np.unique(f)) == 778                  # every vertex used
    assert (np.sort(f, 1)[:, :-1] != np.sort(f, 1)[:, 1:]).all()
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    assert area.min() > 1e-7                         # no degenerate triangles (> 0.1 mm^2)
    tri = v[f]
    volume = np.einsum('ij,ij->i', tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6
    assert 1.5e-4 < volume < 5e-4                    # outward, a hand's 150-500 cm^3


def test_model_arrays_match_mano_layout(standin_right):
    d = standin_right
    assert d['shapedirs'].shape == (778, 3, 10) and d['posedirs'].shape == (778, 3, 135)
    assert d['hands_components'].shape == (45, 45) and d['hands_mean'].shape == (45,)
    assert d['kintree_table'].shape == (2, 16)
    assert d['kintree_table'][0, 0] == 2 ** 32 - 1
    assert tuple(d['kintree_table'][0, 1:]) == MANO16_PARENTS[1:]
    assert d['bs_style'] == 'lbs' and d['bs_type'] == 'lrotmin'
    assert sp.issparse(d['J_regressor']) and d['J_regressor'].shape == (16, 778)
    assert np.allclose(np.asarray(d['J_regressor'].sum(1)).ravel(), 1)
    assert np.allclose(d['J'], d['J_regressor'] @ d['v_template'])
    assert np.allclose(d['weights'].sum(1), 1) and (d['weights'] >= 0).all()
    comps = d['hands_components']
    assert np.allclose(comps @ comps.T, np.eye(45), atol=1e-8)
    assert 'not MANO' in d[STANDIN_KEY]['name']


def test_joints_inside_surface(standin_right, winding):
    d = standin_right
    v, f = d['v_template'], d['f'].astype(np.int64)
    for betas in (np.zeros(10), np.full(10, 1.5), np.full(10, -1.5)):
        vs = v + d['shapedirs'] @ betas
        joints = d['J_regressor'] @ vs
        assert np.allclose(winding(joints, vs, f), 1, atol=1e-6), betas
    outside = np.array([[0.0, 0.2, 0.0], v.mean(0) + [0, 0.05, 0]])
    assert np.allclose(winding(outside, v, f), 0, atol=1e-6)


def test_size_is_a_real_hand(standin_right):
    v, j = standin_right['v_template'], standin_right['J']
    length = v[:, 0].max() - v[:, 0].min()
    assert 0.175 < length < 0.20                   # wrist cut to middle fingertip
    middle_tip = v[standin.STANDIN_FINGERTIP_IDS[2]]
    assert 0.075 < np.linalg.norm(middle_tip - j[4]) < 0.085
    assert middle_tip[0] < j[0, 0] - 0.15           # fingers extend along -x, as MANO's
    thumb_tip, pinky_tip = (v[standin.STANDIN_FINGERTIP_IDS[i]] for i in (0, 4))
    assert thumb_tip[2] > 0.05 and pinky_tip[2] < -0.05   # thumb on +z, pinky on -z


def test_fingertips_are_the_farthest_vertices(standin_right):
    v, j, w = standin_right['v_template'], standin_right['J'], standin_right['weights']
    for k, name in enumerate(FINGERS):
        _, mid, last = MANO16_FINGER_CHAINS[name]
        direction = (j[last] - j[mid]) / np.linalg.norm(j[last] - j[mid])
        digit = np.flatnonzero(w[:, list(MANO16_FINGER_CHAINS[name])].sum(1) > 0)
        tip = digit[np.argmax((v[digit] - j[last]) @ direction)]
        assert tip == standin.STANDIN_FINGERTIP_IDS[k], name


def test_posing_one_finger_moves_only_that_finger(standin_right):
    d = standin_right
    rest, _ = _skin(d, np.zeros((1, 45)))
    owner = np.full(778, -1)
    for k, name in enumerate(FINGERS):
        on_chain = d['weights'][:, list(MANO16_FINGER_CHAINS[name])].sum(1) > 0
        assert (owner[on_chain] == -1).all()          # no vertex belongs to two fingers
        owner[on_chain] = k
    for k, name in enumerate(FINGERS):
        pose = np.zeros((1, 45))
        for joint in MANO16_FINGER_CHAINS[name]:
            pose[0, 3 * (joint - 1):3 * joint] = [0.3, -0.4, 0.9]
        posed, _ = _skin(d, pose)
        moved = np.linalg.norm(posed[0] - rest[0], axis=1)
        assert moved[owner != k].max() < 1e-6, name
        assert moved[standin.STANDIN_FINGERTIP_IDS[k]] > 0.02, name


def test_weights_are_smooth_along_fingers(standin_right):
    w = standin_right['weights']
    for name in FINGERS:
        chain = list(MANO16_FINGER_CHAINS[name])
        ids = np.flatnonzero(w[:, chain].sum(1) > 0)
        # every joint of the chain blends: some vertices carry between 10% and 90% of it
        for joint in chain:
            assert ((w[ids, joint] > 0.1) & (w[ids, joint] < 0.9)).any(), (name, joint)


def test_build_is_deterministic_and_left_mirrors_right():
    a, b = standin.build_standin_mano_dict(True), standin.build_standin_mano_dict(True)
    left = standin.build_standin_mano_dict(False)
    for key, value in a.items():
        other = b[key]
        if sp.issparse(value):
            assert (value != other).nnz == 0, key
        elif isinstance(value, np.ndarray):
            assert np.array_equal(value, other), key
        else:
            assert value == other, key
    flip = np.array([-1.0, 1.0, 1.0])
    assert np.array_equal(left['v_template'], a['v_template'] * flip)
    assert np.array_equal(left['f'], a['f'][:, ::-1])
    assert np.array_equal(left['hands_mean'].reshape(15, 3),
                          a['hands_mean'].reshape(15, 3) * [1, -1, -1])
    assert left[STANDIN_KEY]['is_rhand'] is False


def test_cache_is_reused_and_written_atomically(standin_dir, monkeypatch, tmp_path):
    assert sorted(os.listdir(standin_dir)) == ['MANO_LEFT.pkl', 'MANO_RIGHT.pkl']
    assert os.path.basename(standin_dir).endswith(standin.source_hash())
    stamp = [os.stat(os.path.join(standin_dir, n)).st_mtime_ns for n in os.listdir(standin_dir)]

    def no_rebuild(*args, **kwargs):
        raise AssertionError('the cached stand-in was rebuilt')

    monkeypatch.setattr(standin, 'build_standin_mano_dict', no_rebuild)
    assert standin.standin_mano_dir() == standin_dir
    assert stamp == [os.stat(os.path.join(standin_dir, n)).st_mtime_ns
                     for n in os.listdir(standin_dir)]
    # a fresh cache root builds again
    monkeypatch.setenv('MMHANDMIM_CACHE', str(tmp_path))
    with pytest.raises(AssertionError, match='rebuilt'):
        standin.standin_mano_dir()
    assert not [n for n in os.listdir(os.path.join(tmp_path, 'standin_mano',
                                                   os.path.basename(standin_dir)))
                if not n.startswith('MANO_')]      # no temporary file left behind


def test_sampled_poses_respect_limits_and_curl(standin_right):
    lim = joint_limits()
    poses = sample_hand_pose(2000, np.random.default_rng(3))
    assert poses.shape == (2000, 45) and poses.dtype == np.float32
    comp = pose_components(poses)
    assert (comp >= lim[..., 0] - 1e-5).all() and (comp <= lim[..., 1] + 1e-5).all()
    assert np.array_equal(poses, sample_hand_pose(2000, 3))    # seeded: reproducible
    flex = comp[..., 0]
    assert flex.mean() > 0.2 and comp[..., 1:].std() < flex.std()      # mostly flexion
    left = sample_hand_pose(5, 7, is_rhand=False)
    right = sample_hand_pose(5, 7)
    assert np.allclose(left.reshape(5, 15, 3), right.reshape(5, 15, 3) * [1, -1, -1])
    # curling closes the fist: fingertips get nearer the wrist
    v_open, _ = _skin(standin_right, sample_hand_pose(1, 0, curl=0.0))
    v_fist, _ = _skin(standin_right, sample_hand_pose(1, 0, curl=1.0))
    tips = list(standin.STANDIN_FINGERTIP_IDS[1:])
    wrist = standin_right['J'][0]
    assert (np.linalg.norm(v_fist[0, tips] - wrist, axis=1)
            < np.linalg.norm(v_open[0, tips] - wrist, axis=1) - 0.03).all()
    # hands_mean is a gentle curl, inside the limits
    mean_comp = pose_components(standin_right['hands_mean'])
    assert (mean_comp[:, 0] > 0).mean() > 0.8 and (mean_comp[:, 0] < 0.9).all()


def test_betas_give_plausible_hands(standin_right):
    betas = sample_betas(64, np.random.default_rng(0))
    assert betas.shape == (64, 10) and np.abs(betas).max() <= 3
    v = standin_right['v_template'] + np.einsum('vcb,nb->nvc', standin_right['shapedirs'], betas)
    length = v[..., 0].max(1) - v[..., 0].min(1)
    assert 0.15 < length.min() and length.max() < 0.23
    assert length.std() > 0.005                       # shape actually varies
    # each component changes the hand, and the first one is overall size
    assert (np.abs(standin_right["shapedirs"]).max((0, 1)) > 5e-4).all()   # >= 0.5 mm
    big = standin_right['v_template'] + standin_right['shapedirs'][..., 0]
    assert np.ptp(big[:, 0]) > np.ptp(standin_right['v_template'][:, 0]) * 1.03


def test_mesh_check_catches_broken_meshes(standin_right):
    from mmhandmim.standin.geometry import check_closed_outward
    v, f = standin_right['v_template'], standin_right['f'].astype(np.int64)
    check_closed_outward(v, f)
    one_flipped = f.copy()
    one_flipped[10] = one_flipped[10, ::-1]
    for broken in (one_flipped, f[1:], f[:, ::-1]):
        with pytest.raises(RuntimeError, match='stand-in hand mesh'):
            check_closed_outward(v, broken)
