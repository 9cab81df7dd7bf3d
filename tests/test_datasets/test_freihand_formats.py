"""FreiHAND as published: the mano file's layout (values 58-61 are the toolbox's uv_root and
scale, nested ``[[61]]`` or flat ``[61]``), the MANO translation derived from the joints,
evaluation ground truth without a mano file, load-time refusal of broken annotation files and
of an ``image_size`` the images contradict."""
import json
import os
import os.path as osp
import re
import shutil

import numpy as np
import pytest
import torch

import mmhandmim  # noqa: F401
from mmhandmim.datasets import FreiHANDMeshDataset
from mmhandmim.datasets.annotation_checks import AnnotationError
from mmhandmim.hand_model import MANOLayer
from mmhandmim.structures import project
from mmhandmim.utils.errors import ConfigError, UserInputError

IMG = 128  # the image size of the mesh_roots fixture


@pytest.fixture(scope='module')
def mano():
    return MANOLayer('standin').double()


def _copy(mesh_roots, tmp_path):
    root = str(tmp_path / 'root')
    shutil.copytree(mesh_roots['freihand'], root)
    return root


def _load(root, name):
    with open(osp.join(root, name)) as f:
        return json.load(f)


def _dump(root, name, value):
    with open(osp.join(root, name), 'w') as f:
        json.dump(value, f)


def _ds(root, tmp_path, **kw):
    kw.setdefault('image_versions', ('gs', ))
    return FreiHANDMeshDataset(root, cache_dir=str(tmp_path / 'cache'), **kw)


def _repose(mano, info):
    t = {k: torch.as_tensor(info[k], dtype=torch.float64)
         for k in ('mano_pose', 'mano_betas', 'mano_trans')}
    with torch.no_grad():
        return mano(t['mano_pose'], t['mano_betas'], t['mano_trans'])


# --- the mano file's layout and the derived translation ------------------------------------
def test_generated_mano_file_is_the_official_layout(mesh_roots):
    """[[61]] per frame; values 58-61 = keypoint 9 projected with K, and focal / its depth
    (the toolbox's recover_root gives keypoint 9 back)."""
    root = mesh_roots['freihand']
    theta, xyz, K = (np.asarray(_load(root, f'training_{n}.json')) for n in ('mano', 'xyz', 'K'))
    assert theta.shape == (len(xyz), 1, 61)
    theta = theta[:, 0]
    np.testing.assert_allclose(theta[:, 58:60], project(xyz[:, 9:10], K)[:, 0], atol=1e-6)
    focal = 0.5 * (K[:, 0, 0] + K[:, 1, 1])
    np.testing.assert_allclose(theta[:, 60], focal / xyz[:, 9, 2], rtol=1e-7)
    root9 = np.concatenate([(theta[:, 58:60] - K[:, :2, 2]) / theta[:, 60:],
                            focal[:, None] / theta[:, 60:]], 1)
    np.testing.assert_allclose(root9, xyz[:, 9], atol=1e-7)


@pytest.mark.parametrize('nesting', ['[[61]]', '[61]'])
def test_translation_is_derived_from_the_joints(mesh_roots, tmp_path, mano, nesting):
    """With the hand model named, MANO re-posed from (pose, betas, mano_trans) gives the stored
    joints and vertices, whatever values 58-61 hold and however an entry is nested."""
    root = _copy(mesh_roots, tmp_path)
    theta = np.asarray(_load(root, 'training_mano.json')).reshape(-1, 61)
    theta[:, 58:] = np.random.default_rng(0).normal(0, 100, (len(theta), 3))  # not used
    _dump(root, 'training_mano.json', (theta[:, None] if nesting == '[[61]]' else theta).tolist())
    ds = _ds(root, tmp_path, mano_model_path='standin')
    for idx in (0, 4):
        info = ds.get_data_info(idx)
        out = _repose(mano, info)
        np.testing.assert_allclose(out['keypoints'][0].numpy(), info['keypoints_3d'][0],
                                   atol=1e-6)
        np.testing.assert_allclose(out['vertices'][0].numpy(), info['vertices'][0], atol=1e-6)
        np.testing.assert_allclose(info['mano_pose'][0], theta[idx, :48], atol=1e-6)
        np.testing.assert_allclose(info['mano_betas'][0], theta[idx, 48:58], atol=1e-6)
        np.testing.assert_allclose(ds.mano_theta(idx), theta[idx], atol=1e-12)


def test_without_a_hand_model_the_translation_is_nan(mesh_roots, tmp_path):
    ds = _ds(mesh_roots['freihand'], tmp_path)
    info = ds.get_data_info(1)
    assert info['has_mano'][0] == 1 and np.isnan(info['mano_trans']).all()
    assert np.isfinite(info['mano_pose']).all() and np.isfinite(info['vertices']).all()


# --- evaluation ground truth --------------------------------------------------------------
def test_evaluation_ground_truth_without_mano_file(mesh_roots, tmp_path):
    """evaluation_xyz.json + evaluation_verts.json are what the official evaluation reads:
    with them alone the split has 3D ground truth (and no MANO)."""
    root = _copy(mesh_roots, tmp_path)
    os.remove(osp.join(root, 'evaluation_mano.json'))
    ds = _ds(root, tmp_path, split='evaluation')
    xyz, verts = (np.asarray(_load(root, f'evaluation_{n}.json')) for n in ('xyz', 'verts'))
    for idx in range(len(ds)):
        info = ds.get_data_info(idx)
        assert (info['has_3d'][0], info['has_verts'][0], info['has_mano'][0]) == (1, 1, 0)
        np.testing.assert_array_equal(info['keypoints_3d'][0], xyz[idx])
        np.testing.assert_array_equal(info['vertices'][0], verts[idx])
    os.remove(osp.join(root, 'evaluation_verts.json'))  # xyz alone: no ground truth
    info = _ds(root, tmp_path, split='evaluation').get_data_info(0)
    assert info['has_3d'][0] == 0 and info['has_verts'][0] == 0


# --- parsing ------------------------------------------------------------------------------
def test_well_formed_files_never_reach_json(mesh_roots, tmp_path, monkeypatch):
    """The fast parser reads the real layout (json is only the diagnosis of broken files),
    with json's exact values."""
    from mmhandmim.datasets import freihand
    expected = np.asarray(_load(mesh_roots['freihand'], 'training_verts.json'))

    def no_json(*args, **kwargs):
        raise AssertionError('json.load used on a well-formed file')

    monkeypatch.setattr(freihand.json, 'load', no_json)
    ds = _ds(mesh_roots['freihand'], tmp_path)
    np.testing.assert_array_equal(ds.get_data_info(3)['vertices'][0], expected[3])


# --- broken files: one AnnotationError naming the file and the first bad sample -----------
def _edit(name, change):
    def make(root):
        _dump(root, name, change(_load(root, name)))
        return name
    return make


def _set(lst, i, value):
    lst[i] = value
    return lst


def _nan_joint(xyz):
    xyz[2][5][1] = float('nan')
    return xyz


def _zero_focal(K):
    K[1][0][0] = 0.0
    return K


BROKEN = [
    pytest.param(_edit('training_K.json', lambda v: {'K': v}), r'holds a JSON dict', id='dict'),
    pytest.param(_edit('training_scale.json', lambda v: 0.5),
                 r'holds a JSON float, expected a list', id='number'),
    pytest.param(_edit('training_verts.json', lambda v: v[:-1]),
                 r'verts has 5 entries, K has 6.*from sample 5 on', id='length'),
    pytest.param(_edit('training_verts.json', lambda v: _set(v, 3, v[3][:777])),
                 r'vertices entry of sample 3 is of shape \(777, 3\), expected a 778x3',
                 id='vertex-count'),
    pytest.param(_edit('training_xyz.json', lambda v: [j[:20] for j in v]),
                 r'3D joints entry of sample 0 is of shape \(20, 3\), expected a 21x3.*every',
                 id='joint-count'),
    pytest.param(_edit('training_xyz.json', _nan_joint), r'3D joints of sample 2 is not finite',
                 id='nan'),
    pytest.param(_edit('training_K.json', _zero_focal),
                 r'camera matrix K of sample 1 is .*fx, fy > 0', id='zero-focal'),
    pytest.param(_edit('training_K.json', lambda v: [k[:2] for k in v]),
                 r'camera matrix K entry of sample 0 is of shape \(2, 3\), expected a 3x3',
                 id='K-not-3x3'),
    pytest.param(_edit('training_scale.json', lambda v: _set(v, 4, 0.0)),
                 r'scale of sample 4 is 0\.0', id='scale-zero'),
    pytest.param(_edit('training_mano.json', lambda v: _set(v, 1, [v[1][0][:60]])),
                 r'MANO parameters entry of sample 1 is of shape \(1, 60\)', id='mano-60'),
    pytest.param(_edit('training_xyz.json', lambda v: _set(v, 2, 'lost')),
                 r'3D joints entry of sample 2 is "lost"', id='string-entry'),
    pytest.param(_edit('training_xyz.json', lambda v: [[[c * 1000 for c in p] for p in j]
                                                       for j in v]),
                 r'3D joints of sample 0 span .* millimetres', id='joints-in-mm'),
    pytest.param(_edit('training_verts.json', lambda v: _set(v, 4, [[c * 100 for c in p]
                                                                   for p in v[4]])),
                 r'vertices of sample 4 span .* centimetres', id='one-sample-in-cm'),
]


@pytest.mark.parametrize('break_root, message', BROKEN)
def test_broken_annotation_file_is_refused(mesh_roots, tmp_path, break_root, message):
    root = _copy(mesh_roots, tmp_path)
    name = break_root(root)
    with pytest.raises(AnnotationError) as err:
        _ds(root, tmp_path)
    text = str(err.value)
    assert isinstance(err.value, (UserInputError, ValueError)) and '\n' not in text
    assert text.startswith(osp.join(root, name)), text
    assert re.search(message, text), text


def test_length_mismatch_is_also_a_layout_error(mesh_roots, tmp_path):
    """Callers that caught the old layout error (FileNotFoundError) still catch it."""
    root = _copy(mesh_roots, tmp_path)
    _edit('training_xyz.json', lambda v: v[:-2])(root)
    with pytest.raises(FileNotFoundError, match='xyz has 4 entries, K has 6'):
        _ds(root, tmp_path)


def test_a_broken_file_is_not_cached(mesh_roots, tmp_path):
    """A refused build publishes nothing: the fixed file loads (the same cache folder)."""
    root = _copy(mesh_roots, tmp_path)
    good = _load(root, 'training_K.json')
    _edit('training_K.json', _zero_focal)(root)
    with pytest.raises(AnnotationError):
        _ds(root, tmp_path)
    _dump(root, 'training_K.json', good)
    assert len(_ds(root, tmp_path)) == 6


# --- image_size ---------------------------------------------------------------------------
def test_image_size_contradicting_the_images_is_refused(mesh_roots, tmp_path):
    with pytest.raises(ConfigError) as err:
        _ds(mesh_roots['freihand'], tmp_path, image_size=2 * IMG)
    text = str(err.value)
    assert '00000000.jpg' in text and f'{IMG}x{IMG}' in text
    assert f'image_size={2 * IMG}' in text and f'set image_size={IMG}' in text


@pytest.mark.parametrize('image_size', [None, IMG])
def test_image_box_is_the_whole_image(mesh_roots, tmp_path, image_size):
    ds = _ds(mesh_roots['freihand'], tmp_path, image_size=image_size)
    np.testing.assert_array_equal(ds.get_data_info(2)['bbox'], [[0, 0, IMG, IMG]])
