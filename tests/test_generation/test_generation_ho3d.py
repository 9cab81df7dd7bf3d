"""HO3D-v2-layout stand-in data: files, meta keys, OpenGL frame, HO3D's MANO convention
(flat_hand_mean=True, as the official toolkit's forwardKinematics) and consistency."""
import json
import os
import pickle

import cv2
import numpy as np
import pytest
import torch
from .conftest import TINY_HO3D, inside, project_cv

from mmhandmim.visualization import rasterize

F = np.diag([1.0, -1.0, -1.0])
TRAIN_KEYS = {'handPose', 'handBeta', 'handTrans', 'handJoints3D', 'camMat', 'objName',
              'objLabel', 'objRot', 'objTrans', 'objCorners3DRest', 'objCorners3D'}


def _lines(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def _meta(root, split, line):
    seq, frame = line.split('/')
    with open(os.path.join(root, split, seq, 'meta', frame + '.pkl'), 'rb') as f:
        return pickle.load(f, encoding='latin1')


@pytest.fixture(scope='module')
def flat_layer(gen_cache):
    """The layer real HO3D's parameters are meant for: MANO with flat_hand_mean=True."""
    from mmhandmim.hand_model import MANOLayer
    return MANOLayer('standin', keypoint_order='ho3d', flat_hand_mean=True)


def _repose(layer, meta_list):
    p = lambda k: torch.tensor(np.stack([m[k] for m in meta_list]), dtype=torch.float32)  # noqa
    with torch.no_grad():
        return layer(p('handPose'), p('handBeta'), p('handTrans'))


def test_layout_and_counts(ho3d_root):
    root = str(ho3d_root)
    assert set(os.listdir(root)) == {'train', 'evaluation', 'train.txt', 'evaluation.txt',
                                     'evaluation_xyz.json', 'evaluation_verts.json',
                                     'standin_info.json'}
    for split, n, nseq in (('train', TINY_HO3D['num_train'], TINY_HO3D['num_seqs']),
                           ('evaluation', TINY_HO3D['num_eval'], 1)):
        lines = _lines(os.path.join(root, f'{split}.txt'))
        assert len(lines) == n
        seqs = sorted({line.split('/')[0] for line in lines})
        assert sorted(os.listdir(os.path.join(root, split))) == seqs and len(seqs) == nseq
        for seq in seqs:
            frames = [line.split('/')[1] for line in lines if line.startswith(seq + '/')]
            assert frames == ['%04d' % k for k in range(len(frames))]
            assert sorted(os.listdir(os.path.join(root, split, seq))) == ['meta', 'rgb']
            assert sorted(os.listdir(os.path.join(root, split, seq, 'rgb'))) == \
                [f + '.png' for f in frames]
            assert sorted(os.listdir(os.path.join(root, split, seq, 'meta'))) == \
                [f + '.pkl' for f in frames]
        img = cv2.imread(os.path.join(root, split, lines[0].split('/')[0], 'rgb', '0000.png'))
        assert img.shape == (480, 640, 3)
    with open(os.path.join(root, 'evaluation_xyz.json')) as f:
        assert np.array(json.load(f)).shape == (TINY_HO3D['num_eval'], 21, 3)
    with open(os.path.join(root, 'evaluation_verts.json')) as f:
        assert np.array(json.load(f)).shape == (TINY_HO3D['num_eval'], 778, 3)


def test_meta_keys_and_shapes(ho3d_root):
    root = str(ho3d_root)
    for line in _lines(os.path.join(root, 'train.txt')):
        m = _meta(root, 'train', line)
        assert set(m) == TRAIN_KEYS
        assert m['handPose'].shape == (48,) and m['handBeta'].shape == (10,)
        assert m['handTrans'].shape == (3,) and m['handJoints3D'].shape == (21, 3)
        assert m['camMat'].shape == (3, 3) and m['objRot'].shape == (3, 1)
        assert m['objTrans'].shape == (3,) and isinstance(m['objName'], str)
        assert (m['handJoints3D'][:, 2] < 0).all()        # OpenGL: in front = negative z
    xyz = json.load(open(os.path.join(root, 'evaluation_xyz.json')))
    for k, line in enumerate(_lines(os.path.join(root, 'evaluation.txt'))):
        m = _meta(root, 'evaluation', line)
        assert set(m) == {'handBoundingBox', 'handJoints3D', 'camMat'}
        assert np.shape(m['handJoints3D']) == (3,) and np.shape(m['handBoundingBox']) == (4,)
        np.testing.assert_allclose(m['handJoints3D'], xyz[k][0], atol=1e-7)
        uv = project_cv(m['camMat'], np.array(xyz[k]) @ F)
        x0, y0, x1, y1 = m['handBoundingBox']
        assert (uv[:, 0] >= x0 - 1).all() and (uv[:, 0] <= x1 + 1).all()
        assert (uv[:, 1] >= y0 - 1).all() and (uv[:, 1] <= y1 + 1).all()


def test_flat_hand_mean_mano_reproduces_joints_in_opengl(ho3d_root, flat_layer, layers):
    """MANO(handPose, handBeta, handTrans, flat_hand_mean=True) gives the stored handJoints3D
    (HO3D order, OpenGL frame) within 1e-5 m; the flat_hand_mean=False layer does not."""
    root = str(ho3d_root)
    lines = _lines(os.path.join(root, 'train.txt'))
    metas = [_meta(root, 'train', line) for line in lines]
    joints = np.stack([m['handJoints3D'] for m in metas])
    assert np.abs(_repose(flat_layer, metas)['keypoints'].numpy() - joints).max() < 1e-5
    wrong = np.linalg.norm(_repose(layers['ho3d'], metas)['keypoints'].numpy() - joints, axis=-1)
    assert wrong.mean() > 5e-3  # hands_mean added twice: the fingers curl by centimetres
    with open(os.path.join(root, 'standin_info.json')) as f:
        mano = json.load(f)['mano']
    assert mano['flat_hand_mean'] is True and 'flat_hand_mean=True' in mano['repose']


def test_convention_of_the_official_forward_kinematics(ho3d_root, gen_cache):
    """The HO3D toolkit's forwardKinematics: mano's load_model(flat_hand_mean=True), the full
    48-value pose used as the rotations, ``trans`` added, joints = the 16 J_transformed then
    the fingertip vertices. Here with smplx's MANO (independent of our MANOLayer) on the
    stand-in model file; the result is the stored handJoints3D."""
    import smplx

    from mmhandmim.hand_model.mano_io import STANDIN_KEY, load_mano_dict
    from mmhandmim.standin.hand import standin_mano_dir
    root = str(ho3d_root)
    metas = [_meta(root, 'train', line) for line in _lines(os.path.join(root, 'train.txt'))]
    p = {k: torch.tensor(np.stack([m[k] for m in metas]), dtype=torch.float32)
         for k in ('handPose', 'handBeta', 'handTrans')}
    mano = smplx.MANO(standin_mano_dir(), is_rhand=True, use_pca=False, flat_hand_mean=True,
                      batch_size=len(metas))
    with torch.no_grad():
        out = mano(betas=p['handBeta'], global_orient=p['handPose'][:, :3],
                   hand_pose=p['handPose'][:, 3:], transl=p['handTrans'])
    tips = load_mano_dict(os.path.join(standin_mano_dir(), 'MANO_RIGHT.pkl'))[STANDIN_KEY][
        'fingertip_ids']
    ref = torch.cat([out.joints[:, :16], out.vertices[:, list(tips)]], 1).numpy()
    joints = np.stack([m['handJoints3D'] for m in metas])
    assert np.abs(ref - joints).max() < 1e-5


def test_opengl_conversion_matches_opencv_pose(ho3d_root, flat_layer):
    """Undo the stored OpenGL parameters' conversion (F is its own inverse: R = F R',
    t = F (J0 + t') - J0) and check the OpenCV hand is F times the stored one."""
    from mmhandmim.structures import aa_to_mat, mat_to_aa
    root = str(ho3d_root)
    metas = [_meta(root, 'train', line) for line in _lines(os.path.join(root, 'train.txt'))]
    layer = flat_layer
    gl = _repose(layer, metas)
    cv_metas = []
    for m in metas:
        with torch.no_grad():
            j0 = layer(torch.zeros(1, 48), torch.tensor(m['handBeta'][None],
                                                         dtype=torch.float32))['joints'][0, 0]
        j0 = j0.numpy().astype(np.float64)
        pose = m['handPose'].copy()
        pose[:3] = mat_to_aa(F @ aa_to_mat(pose[:3]))
        cv_metas.append({'handPose': pose, 'handBeta': m['handBeta'],
                         'handTrans': F @ (j0 + m['handTrans']) - j0})
    cv = _repose(layer, cv_metas)
    assert np.abs(cv['vertices'].numpy() @ F - gl['vertices'].numpy()).max() < 1e-5
    assert (cv['vertices'].numpy()[..., 2] > 0).all()


@pytest.mark.parametrize('seed', [0, 1])
def test_opencv_to_opengl_params_random(hands, seed):
    from mmhandmim.standin.generation.scene import (opencv_to_opengl_params,
                                                     sample_global_rotation)
    from mmhandmim.structures import mat_to_aa
    rng = np.random.default_rng(seed)
    pose = np.concatenate([mat_to_aa(sample_global_rotation(rng)[0]),
                           rng.normal(0, 0.2, 45)])[None]
    betas = rng.normal(0, 1, (1, 10))
    transl = rng.normal(0, 0.1, (1, 3)) + [0, 0, 0.6]
    v_cv, k_cv = hands.forward(pose, betas, transl)
    _, k0 = hands.forward(pose, betas)
    g, t = opencv_to_opengl_params(pose[0, :3], transl[0], k0[0, 0].astype(np.float64))
    v_gl, _ = hands.forward(np.concatenate([g, pose[0, 3:]])[None], betas, t[None])
    assert np.abs(v_cv[0].astype(np.float64) @ F - v_gl[0]).max() < 1e-5


def test_projected_joints_on_the_unoccluded_hand(ho3d_root, flat_layer):
    root = str(ho3d_root)
    lines = _lines(os.path.join(root, 'train.txt'))
    metas = [_meta(root, 'train', line) for line in lines]
    out = _repose(flat_layer, metas)
    faces = flat_layer.faces
    for m, verts in zip(metas, out['vertices'].numpy()):
        mask = rasterize(torch.from_numpy(verts @ F.astype(np.float32)), faces,
                         torch.from_numpy(m['camMat']), (480, 640)).mask.numpy()
        uv = project_cv(m['camMat'], m['handJoints3D'] @ F)
        assert inside(mask, uv).all()


def test_sequences_move_smoothly(ho3d_root):
    root = str(ho3d_root)
    lines = _lines(os.path.join(root, 'train.txt'))
    joints = {}
    for line in lines:
        joints.setdefault(line.split('/')[0], []).append(_meta(root, 'train', line)
                                                         ['handJoints3D'])
    for seq, js in joints.items():
        js = np.array(js)
        step = np.linalg.norm(np.diff(js, axis=0), axis=2).max()
        assert step < 0.08, f'{seq}: a keypoint jumps {step:.3f} m between frames'
        cams = {_meta(root, 'train', line)['camMat'].tobytes() for line in lines
                if line.startswith(seq + '/')}
        assert len(cams) == 1            # a static camera per sequence


def test_old_convention_differs_by_hands_mean(tmp_path, hands, ho3d_root, layers):
    """``flat_hand_mean=False`` (smplx's default, what the writer stored before) is the same
    hand: the same images and joints, the finger values smaller by exactly ``hands_mean``; so
    a loader or config reading HO3D with the wrong convention is off by that offset."""
    from mmhandmim.standin.generation import generate_ho3d
    root = str(tmp_path / 'relative')
    generate_ho3d(root, seed=3, progress=False, hands=hands, flat_hand_mean=False, **TINY_HO3D)
    with open(os.path.join(root, 'standin_info.json')) as f:
        assert json.load(f)['mano']['flat_hand_mean'] is False
    lines = _lines(os.path.join(root, 'train.txt'))
    rel = [_meta(root, 'train', line) for line in lines]
    flat = [_meta(str(ho3d_root), 'train', line) for line in lines]
    joints = np.stack([m['handJoints3D'] for m in rel])
    assert np.abs(_repose(layers['ho3d'], rel)['keypoints'].numpy() - joints).max() < 1e-5
    np.testing.assert_allclose(joints, np.stack([m['handJoints3D'] for m in flat]), atol=1e-5)
    diff = np.stack([f['handPose'] - r['handPose'] for f, r in zip(flat, rel)])
    assert np.abs(diff[:, :3]).max() < 1e-7
    np.testing.assert_allclose(diff[:, 3:], np.broadcast_to(hands.hands_mean(True),
                                                            diff[:, 3:].shape), atol=1e-6)
    assert np.abs(hands.hands_mean(True)).max() > 0.1  # the offset is not negligible


def test_true_vertices_are_the_rendered_hand(ho3d_root, hands, flat_layer):
    """``true_vertices`` (from the scenes, OpenCV frame) is the hand stored for evaluation
    (evaluation_verts.json, OpenGL frame) and the one the train parameters re-pose to."""
    from mmhandmim.standin.generation.ho3d_writer import true_vertices
    root = str(ho3d_root)
    with open(os.path.join(root, 'evaluation_verts.json')) as f:
        stored = np.asarray(json.load(f))
    ev = true_vertices('evaluation', seed=3, hands=hands, **TINY_HO3D)
    assert ev.shape == stored.shape
    assert np.abs(ev @ F - stored).max() < 1e-5
    metas = [_meta(root, 'train', line) for line in _lines(os.path.join(root, 'train.txt'))]
    tr = true_vertices('train', seed=3, hands=hands, **TINY_HO3D)
    assert np.abs(tr @ F - _repose(flat_layer, metas)['vertices'].numpy()).max() < 1e-5
