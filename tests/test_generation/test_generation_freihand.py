"""FreiHAND-v2-layout stand-in data: files, JSON shapes, consistency, versions."""
import json
import os

import cv2
import numpy as np
import torch
from .conftest import TINY_FREIHAND, inside, project_cv

N, M, V = TINY_FREIHAND['num_train'], TINY_FREIHAND['num_eval'], TINY_FREIHAND['versions']
SIZE = TINY_FREIHAND['img_size']


def _load(root, name):
    with open(os.path.join(root, name)) as f:
        return json.load(f)


def _files(path):
    return sorted(os.listdir(path))


def test_layout_and_counts(freihand_root):
    root = str(freihand_root)
    keys = ('K', 'mano', 'xyz', 'verts', 'scale')
    expected = {'training', 'evaluation', 'standin_info.json'} | {
        f'{s}_{k}.json' for s in ('training', 'evaluation') for k in keys}
    assert set(os.listdir(root)) == expected
    assert _files(os.path.join(root, 'training')) == ['mask', 'rgb']
    assert _files(os.path.join(root, 'evaluation')) == ['rgb']
    assert _files(os.path.join(root, 'training', 'rgb')) == ['%08d.jpg' % k for k in range(N * V)]
    assert _files(os.path.join(root, 'training', 'mask')) == ['%08d.jpg' % k for k in range(N)]
    assert _files(os.path.join(root, 'evaluation', 'rgb')) == ['%08d.jpg' % k for k in range(M)]
    img = cv2.imread(os.path.join(root, 'training', 'rgb', '00000000.jpg'))
    assert img.shape == (SIZE, SIZE, 3)
    info = _load(root, 'standin_info.json')
    assert info['counts']['training'] == {'frames': N, 'images': N * V, 'masks': N}
    assert info['mano']['flat_hand_mean'] is False
    assert 'not MANO' in info['mano']['hand_model']


def test_json_shapes(freihand_root):
    root = str(freihand_root)
    for split, n in (('training', N), ('evaluation', M)):
        assert np.array(_load(root, f'{split}_K.json')).shape == (n, 3, 3)
        assert np.array(_load(root, f'{split}_mano.json')).shape == (n, 1, 61)
        assert np.array(_load(root, f'{split}_xyz.json')).shape == (n, 21, 3)
        assert np.array(_load(root, f'{split}_verts.json')).shape == (n, 778, 3)
        assert np.array(_load(root, f'{split}_scale.json')).shape == (n,)


def test_repose_reproduces_verts_and_joints(freihand_root, layers):
    root = str(freihand_root)
    for split in ('training', 'evaluation'):
        mano = np.array(_load(root, f'{split}_mano.json'), np.float32)[:, 0]
        xyz = np.array(_load(root, f'{split}_xyz.json'))
        verts = np.array(_load(root, f'{split}_verts.json'))
        scale = np.array(_load(root, f'{split}_scale.json'))
        K = np.array(_load(root, f'{split}_K.json'))
        with torch.no_grad():  # values 58-61 are not a translation: posed without one
            out = layers['freihand'](torch.from_numpy(mano[:, :48]),
                                     torch.from_numpy(mano[:, 48:58]))
        # MANO rotates about its root joint (the wrist): the translation is what moves it
        # onto the stored wrist, and then every vertex and joint agrees
        trans = xyz[:, :1] - out['keypoints'].numpy()[:, :1]
        assert np.abs(out['vertices'].numpy() + trans - verts).max() < 1e-5
        assert np.abs(out['keypoints'].numpy() + trans - xyz).max() < 1e-5
        # values 58-61 as the official toolbox reads them (utils/model.py recover_root):
        # uv_root of keypoint 9 and scale = focal / depth
        uv, s = mano[:, 58:60].astype(np.float64), mano[:, 60].astype(np.float64)
        focal = (K[:, 0, 0] + K[:, 1, 1]) / 2
        kp9 = np.concatenate([(uv - K[:, :2, 2]) / s[:, None], (focal / s)[:, None]], 1)
        np.testing.assert_allclose(kp9, xyz[:, 9], atol=1e-5)
        np.testing.assert_allclose(scale, np.linalg.norm(xyz[:, 9] - xyz[:, 10], axis=1),
                                   atol=1e-7)
        # OpenCV frame, 0.4-0.8 m in front of the camera
        assert (verts[..., 2] > 0.25).all() and (verts[..., 2] < 1.0).all()


def test_projected_joints_on_the_hand(freihand_root):
    root = str(freihand_root)
    K = np.array(_load(root, 'training_K.json'))
    xyz = np.array(_load(root, 'training_xyz.json'))
    for i in range(N):
        mask = cv2.imread(os.path.join(root, 'training', 'mask', '%08d.jpg' % i), 0) > 127
        uv = project_cv(K[i], xyz[i])
        assert inside(mask, uv).all(), f'frame {i}'
        # the hand fills most of the crop, near the centre
        rows, cols = np.nonzero(mask)
        extent = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
        assert 0.5 * SIZE <= extent <= 0.85 * SIZE
        assert abs(K[i, 0, 2] - SIZE / 2) < 0.25 * SIZE


def test_versions_share_the_frame(freihand_root):
    root = str(freihand_root)
    for i in range(N):
        mask = cv2.imread(os.path.join(root, 'training', 'mask', '%08d.jpg' % i), 0) > 127
        core = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        bg = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) == 0
        a, b = (cv2.imread(os.path.join(root, 'training', 'rgb', '%08d.jpg' % (i + v * N)),
                           0).astype(np.float64) for v in (0, 1))
        # same rendered hand (a colour variant) ...
        assert np.corrcoef(a[core], b[core])[0, 1] > 0.8
        # ... over a different background
        assert np.abs(a[bg] - b[bg]).mean() > 10
