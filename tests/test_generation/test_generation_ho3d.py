"""HO3D-v2-layout stand-in data: files, meta keys, OpenGL frame and consistency."""
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


def test_repose_reproduces_joints_in_opengl(ho3d_root, layers):
    root = str(ho3d_root)
    lines = _lines(os.path.join(root, 'train.txt'))
    metas = [_meta(root, 'train', line) for line in lines]
    out = _repose(layers['ho3d'], metas)
    joints = np.stack([m['handJoints3D'] for m in metas])
    assert np.abs(out['keypoints'].numpy() - joints).max() < 1e-5


def test_opengl_conversion_matches_opencv_pose(ho3d_root, layers):
    """Undo the stored OpenGL parameters' conversion (F is its own inverse: R = F R',
    t = F (J0 + t') - J0) and check the OpenCV hand is F times the stored one."""
    from mmhandmim.structures import aa_to_mat, mat_to_aa
    root = str(ho3d_root)
    metas = [_meta(root, 'train', line) for line in _lines(os.path.join(root, 'train.txt'))]
    layer = layers['ho3d']
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


def test_projected_joints_on_the_unoccluded_hand(ho3d_root, layers):
    root = str(ho3d_root)
    lines = _lines(os.path.join(root, 'train.txt'))
    metas = [_meta(root, 'train', line) for line in lines]
    out = _repose(layers['ho3d'], metas)
    faces = layers['ho3d'].faces
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


def test_flat_hand_mean_convention(tmp_path, hands, ho3d_root):
    """``flat_hand_mean=True`` (real HO3D's convention) stores the same hand: its poses re-pose
    with a ``flat_hand_mean=True`` layer to the stored joints, and differ from the default
    ones by exactly ``hands_mean`` in the finger values (same seed, same scenes)."""
    from mmhandmim.standin.generation import generate_ho3d
    from mmhandmim.hand_model import MANOLayer
    root = str(tmp_path / 'flat')
    generate_ho3d(root, seed=3, progress=False, hands=hands, flat_hand_mean=True, **TINY_HO3D)
    with open(os.path.join(root, 'standin_info.json')) as f:
        assert json.load(f)['mano']['flat_hand_mean'] is True
    lines = _lines(os.path.join(root, 'train.txt'))
    flat = [_meta(root, 'train', line) for line in lines]
    rel = [_meta(str(ho3d_root), 'train', line) for line in lines]
    out = _repose(MANOLayer('standin', keypoint_order='ho3d', flat_hand_mean=True), flat)
    joints = np.stack([m['handJoints3D'] for m in flat])
    assert np.abs(out['keypoints'].numpy() - joints).max() < 1e-5
    diff = np.stack([f['handPose'] - r['handPose'] for f, r in zip(flat, rel)])
    assert np.abs(diff[:, :3]).max() < 1e-7
    np.testing.assert_allclose(diff[:, 3:], np.broadcast_to(hands.hands_mean(True), diff[:, 3:].shape),
                               atol=1e-6)
