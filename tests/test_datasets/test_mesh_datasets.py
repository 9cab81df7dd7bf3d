"""FreiHAND / HO3D mesh datasets on generated data in the real layouts, and the mesh-aware
top-down augmentation: 2D, 3D, MANO and K stay consistent through crop + rotation."""
import json
import os
import os.path as osp
import pickle
import shutil

import numpy as np
import pytest
import torch

import mmhandmim  # noqa: F401
from mmhandmim.datasets import FreiHANDMeshDataset, HO3DMeshDataset
from mmhandmim.structures import GL_TO_CV, project
from mmhandmim.hand_model import MANOLayer, convert_keypoints

AUG_PIPELINE = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.25),
    dict(type='RandomBBoxTransform', shift_factor=0.1, scale_factor=(0.7, 1.3),
         rotate_factor=90.0, rotate_prob=1.0),
    dict(type='MeshTopdownAffine', input_size=(96, 96)),
    dict(type='PhotometricDistortion'),
    dict(type='PackMeshInputs'),
]


pytestmark = pytest.mark.usefixtures('mmpose_scope')


@pytest.fixture(scope='module')
def mano():
    return MANOLayer('standin').double()


@pytest.fixture(scope='module')
def mano_flat():
    # HO3D stores its MANO poses for flat_hand_mean=True (its official forwardKinematics)
    return MANOLayer('standin', flat_hand_mean=True).double()


def labels(sample):
    lab = sample['data_samples'].gt_instance_labels
    return {k: lab.get(k)[0].double().numpy() for k in lab.keys()}


def check_consistency(ds, mano, idx, with_vertices):
    info = ds.get_data_info(idx)
    out = ds[idx]
    lab, meta = labels(out), out['data_samples'].metainfo
    # 1. projecting the packed (rotated) 3D joints with the packed K gives the packed 2D
    np.testing.assert_allclose(project(lab['keypoints_3d'], lab['cam_K']),
                               lab['keypoints_2d'], atol=0.5)
    # 2. ...which are the original 2D keypoints moved by the crop warp (rotation included)
    w = meta['warp_mat']
    np.testing.assert_allclose(info['keypoints'][0] @ w[:, :2].T + w[:, 2],
                               lab['keypoints_2d'], atol=0.5)
    assert abs(np.degrees(np.arctan2(w[1, 0], w[0, 0]))) > 1e-3, 'augmentation must rotate'
    # 3. MANO re-posed from the packed (rotated) parameters gives the packed 3D targets
    o = mano(torch.from_numpy(lab['mano_pose'])[None], torch.from_numpy(lab['mano_betas'])[None],
             torch.from_numpy(lab['mano_trans'])[None])
    np.testing.assert_allclose(o['keypoints'][0].numpy(), lab['keypoints_3d'], atol=1e-5)
    if with_vertices:
        np.testing.assert_allclose(o['vertices'][0].numpy(), lab['vertices'], atol=1e-5)
    assert out['inputs'].shape == (3, 96, 96)


def test_freihand_training_layout_and_augmentation(mesh_roots, mano):
    ds = FreiHANDMeshDataset(mesh_roots['freihand'], split='training', mano_model_path='standin',
                             image_versions=('gs', 'hom'), pipeline=AUG_PIPELINE)
    assert len(ds) == 12  # 6 frames x 2 versions
    # image k shows frame k % N: same annotation, different file
    a, b = ds.get_data_info(1), ds.get_data_info(7)
    assert a['img_path'].endswith('00000001.jpg') and b['img_path'].endswith('00000007.jpg')
    np.testing.assert_array_equal(a['keypoints_3d'], b['keypoints_3d'])
    with open(osp.join(mesh_roots['freihand'], 'training_xyz.json')) as f:
        xyz = np.asarray(json.load(f))
    np.testing.assert_allclose(a['keypoints_3d'][0], xyz[1], atol=1e-6)
    for idx in (0, 5, 9):
        check_consistency(ds, mano, idx, with_vertices=True)


def test_freihand_json_parsed_once(mesh_roots, monkeypatch):
    FreiHANDMeshDataset(mesh_roots['freihand'], split='evaluation')
    from mmhandmim.datasets import freihand

    def fail(path):
        raise AssertionError(f'{path} parsed again instead of read from the cache')

    monkeypatch.setattr(freihand, '_load_json_array', fail)
    ds = FreiHANDMeshDataset(mesh_roots['freihand'], split='evaluation')
    assert len(ds) == 3 and ds.get_data_info(2)['has_3d'][0] == 1


def test_ho3d_train_opengl_to_opencv_and_augmentation(mesh_roots, mano_flat):
    root = mesh_roots['ho3d']
    ds = HO3DMeshDataset(root, split='train', pipeline=AUG_PIPELINE)
    assert len(ds) == 6
    info = ds.get_data_info(2)
    seq, frame = info['seq_frame'].split('/')
    with open(osp.join(root, 'train', seq, 'meta', frame + '.pkl'), 'rb') as f:
        meta = pickle.load(f)
    expected = convert_keypoints(np.asarray(meta['handJoints3D']) @ GL_TO_CV, 'ho3d',
                                 'freihand')
    np.testing.assert_allclose(info['keypoints_3d'][0], expected, atol=1e-6)
    assert (info['keypoints_3d'][0][:, 2] > 0).all(), 'OpenCV frame: hand in front (+z)'
    # projected joints inside the 640x480 frame where the hand was rendered
    kp = info['keypoints'][0]
    assert ((kp >= 0) & (kp < [640, 480])).all()
    for idx in (0, 3):
        check_consistency(ds, mano_flat, idx, with_vertices=False)


def test_ho3d_evaluation_split(mesh_roots):
    root = mesh_roots['ho3d']
    ds = HO3DMeshDataset(root, split='evaluation')
    info = ds.get_data_info(1)
    seq, frame = info['seq_frame'].split('/')
    with open(osp.join(root, 'evaluation', seq, 'meta', frame + '.pkl'), 'rb') as f:
        meta = pickle.load(f)
    assert set(meta) == {'handBoundingBox', 'handJoints3D', 'camMat'}
    np.testing.assert_allclose(info['bbox'][0], meta['handBoundingBox'], atol=1e-4)
    np.testing.assert_allclose(info['root_joint'][0], np.asarray(meta['handJoints3D']) @
                               GL_TO_CV, atol=1e-6)
    # the released evaluation ground truth (evaluation_xyz.json) is picked up, and agrees
    # with the root joint in the meta file
    assert info['has_3d'][0] == 1
    np.testing.assert_allclose(info['keypoints_3d'][0][0], info['root_joint'][0], atol=1e-5)


# --- clear errors for broken roots --------------------------------------------------------
def copy_root(src, tmp_path):
    dst = tmp_path / 'root'
    shutil.copytree(src, dst)
    return str(dst)


def test_error_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        FreiHANDMeshDataset(str(tmp_path / 'nothing'))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        HO3DMeshDataset(str(tmp_path / 'nothing'))


def test_error_missing_annotation_file(mesh_roots, tmp_path):
    root = copy_root(mesh_roots['freihand'], tmp_path)
    os.remove(osp.join(root, 'training_mano.json'))
    with pytest.raises(FileNotFoundError, match='training_mano.json') as e:
        FreiHANDMeshDataset(root)
    assert 'Expected layout' in str(e.value)


def test_error_image_count_mismatch(mesh_roots, tmp_path):
    root = copy_root(mesh_roots['freihand'], tmp_path)
    os.remove(osp.join(root, 'training', 'rgb', '00000011.jpg'))
    with pytest.raises(FileNotFoundError, match='11 .jpg images.*need 12'):
        FreiHANDMeshDataset(root, image_versions=('gs', 'hom'), cache_dir=str(tmp_path / 'c'))


def test_error_truncated_json(mesh_roots, tmp_path):
    root = copy_root(mesh_roots['freihand'], tmp_path)
    path = osp.join(root, 'training_K.json')
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text[:len(text) // 2])
    with pytest.raises(ValueError, match='training_K.json.*truncated'):
        FreiHANDMeshDataset(root, cache_dir=str(tmp_path / 'c'))


def test_error_ho3d_bad_list_and_missing_meta(mesh_roots, tmp_path):
    root = copy_root(mesh_roots['ho3d'], tmp_path)
    with open(osp.join(root, 'train.txt')) as f:
        lines = f.read().splitlines()
    with open(osp.join(root, 'train.txt'), 'w') as f:
        f.write('\n'.join(lines + ['not-a-seq-frame']))
    with pytest.raises(FileNotFoundError, match="<SEQ>/<frame>.*not-a-seq-frame"):
        HO3DMeshDataset(root, cache_dir=str(tmp_path / 'c'))
    with open(osp.join(root, 'train.txt'), 'w') as f:
        f.write('\n'.join(lines))
    seq, frame = lines[-1].split('/')
    os.remove(osp.join(root, 'train', seq, 'meta', frame + '.pkl'))
    with pytest.raises(FileNotFoundError, match=f'{frame}.pkl'):
        HO3DMeshDataset(root, cache_dir=str(tmp_path / 'c2'))
