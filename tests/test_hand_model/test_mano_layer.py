import os
import pickle

import numpy as np
import pytest
import smplx
import torch

from mmhandmim.hand_model import STANDIN_KEY, FINGERTIP_VERTEX_IDS, MANOLayer, convert_keypoints
from mmhandmim.standin import STANDIN_FINGERTIP_IDS, sample_betas, sample_hand_pose
from mmhandmim.structures import matrix_to_rot6d


def _params(n=4, seed=0):
    rng = np.random.default_rng(seed)
    pose = np.concatenate([rng.normal(0, 0.8, (n, 3)), sample_hand_pose(n, rng)], 1)
    return (torch.tensor(pose, dtype=torch.float32), torch.tensor(sample_betas(n, rng)),
            torch.tensor(rng.normal(0, 0.1, (n, 3)), dtype=torch.float32))


@pytest.mark.parametrize('flat', [False, True])
def test_matches_raw_smplx_mano(standin_dir, flat):
    pose, betas, transl = _params()
    layer = MANOLayer(standin_dir, flat_hand_mean=flat)
    # smplx reads the clean stand-in pickle by itself (plain pickle.load)
    raw = smplx.MANO(standin_dir, is_rhand=True, use_pca=False, flat_hand_mean=flat,
                     batch_size=4)
    ref = raw(betas=betas, global_orient=pose[:, :3], hand_pose=pose[:, 3:], transl=transl)
    out = layer(pose, betas, transl)
    assert torch.allclose(out['vertices'], ref.vertices, atol=1e-6)
    assert torch.allclose(out['joints'], ref.joints, atol=1e-6)
    assert torch.equal(layer.faces, raw.faces_tensor) and layer.faces.dtype == torch.long
    assert layer.num_vertices == 778
    out64 = layer.double()(pose.double(), betas.double(), transl.double())
    assert out64['vertices'].dtype == torch.float64
    assert torch.allclose(out64['vertices'].float(), ref.vertices, atol=1e-5)


def test_pca_input_matches_raw_smplx(standin_dir):
    rng = np.random.default_rng(5)
    coeffs = torch.tensor(rng.normal(0, 1, (3, 12)), dtype=torch.float32)
    orient = torch.tensor(rng.normal(0, 0.5, (3, 3)), dtype=torch.float32)
    layer = MANOLayer('standin', use_pca=True, num_pca_comps=12)
    raw = smplx.MANO(standin_dir, use_pca=True, num_pca_comps=12, batch_size=3)
    ref = raw(global_orient=orient, hand_pose=coeffs)
    out = layer(torch.cat([orient, coeffs], 1))
    assert torch.allclose(out['vertices'], ref.vertices, atol=1e-6)
    with pytest.raises(ValueError, match=r'\(B, 15\)'):
        layer(torch.zeros(3, 48))


def test_axis_angle_matrix_and_6d_inputs_agree(standin_dir):
    pose, betas, transl = _params(seed=1)
    layer = MANOLayer('standin')
    ref = layer(pose, betas, transl)
    rotmat = layer.pose_to_rotmat(pose)
    assert rotmat.shape == (4, 16, 3, 3)
    by_matrix = layer(rotmat, betas, transl)
    by_6d = layer(matrix_to_rot6d(rotmat), betas, transl)
    by_16x3 = layer(pose.view(4, 16, 3), betas, transl)
    for other in (by_matrix, by_6d, by_16x3):
        for key in ('vertices', 'joints', 'keypoints'):
            assert torch.allclose(other[key], ref[key], atol=1e-5), key
    # hands_mean belongs to the axis-angle parameters only: matrices are used as given
    flat = MANOLayer('standin', flat_hand_mean=True)
    assert torch.allclose(flat(rotmat, betas, transl)['vertices'], ref['vertices'], atol=1e-5)
    assert torch.allclose(flat(pose + layer.pose_mean, betas, transl)['vertices'],
                          ref['vertices'], atol=1e-5)


def test_6d_input_is_differentiable(standin_dir):
    six = matrix_to_rot6d(torch.eye(3)).repeat(2, 16, 1)
    six = (six + 0.05 * torch.randn_like(six)).requires_grad_()
    MANOLayer('standin')(six)['keypoints'].sum().backward()
    assert torch.isfinite(six.grad).all() and six.grad.abs().sum() > 0


def test_keypoint_orders_and_fingertips(standin_dir):
    pose, betas, transl = _params(seed=2)
    outs = {order: MANOLayer('standin', keypoint_order=order)(pose, betas, transl)
            for order in ('freihand', 'ho3d', 'mano16')}
    ho3d = outs['ho3d']
    assert ho3d['keypoints'].shape == (4, 21, 3)
    assert torch.equal(ho3d['keypoints'][:, :16], ho3d['joints'])
    assert torch.equal(ho3d['keypoints'][:, 16:], ho3d['vertices'][:, STANDIN_FINGERTIP_IDS])
    assert torch.equal(outs['freihand']['keypoints'],
                       convert_keypoints(ho3d['keypoints'], 'ho3d', 'freihand'))
    assert torch.equal(outs['mano16']['keypoints'], ho3d['joints'])
    layer = MANOLayer('standin', fingertip_ids='common')
    assert layer.fingertip_ids == FINGERTIP_VERTEX_IDS['common']
    with pytest.raises(ValueError, match='5 vertex ids'):
        MANOLayer('standin', fingertip_ids=[1, 2, 3])


def test_dataset_fingertips_are_the_default_for_a_real_mano_file(standin_right, tmp_path):
    # the same arrays without the stand-in marker stand for a user's MANO file
    plain = {k: v for k, v in standin_right.items() if k != STANDIN_KEY}
    with open(tmp_path / 'MANO_RIGHT.pkl', 'wb') as f:
        pickle.dump(plain, f)
    assert MANOLayer(str(tmp_path)).fingertip_ids == FINGERTIP_VERTEX_IDS['freihand']
    ho3d = MANOLayer(str(tmp_path), keypoint_order='ho3d')
    assert ho3d.fingertip_ids == FINGERTIP_VERTEX_IDS['ho3d'] and not ho3d.is_standin
    assert MANOLayer('standin', keypoint_order='ho3d').fingertip_ids == STANDIN_FINGERTIP_IDS
    with pytest.raises(ValueError, match='not the stand-in'):
        MANOLayer(str(tmp_path), fingertip_ids='standin')


def test_left_hand_mirrors_right(standin_dir):
    pose, betas, transl = _params(seed=3)
    right, left = MANOLayer('standin'), MANOLayer('standin', is_rhand=False)
    mirror_aa = torch.tensor([1.0, -1.0, -1.0])
    flip = torch.tensor([-1.0, 1.0, 1.0])
    out_r = right(pose, betas, transl)
    out_l = left((pose.view(4, 16, 3) * mirror_aa).view(4, 48), betas, transl * flip)
    for key in ('vertices', 'joints', 'keypoints'):
        assert torch.allclose(out_l[key], out_r[key] * flip, atol=1e-6), key
    assert torch.equal(left.faces, right.faces.flip(1))


def test_built_from_mmpose_registry_without_checkpoint_state(standin_dir, mmpose_scope):
    import mmhandmim.hand_model  # noqa: F401  (registers MANOLayer)
    from mmpose.registry import MODELS
    layer = MODELS.build(dict(type='MANOLayer', model_path='standin', keypoint_order='ho3d'))
    assert isinstance(layer, MANOLayer) and layer.is_standin
    assert 'not MANO' in repr(layer)
    # no MANO data may end up in checkpoints of models that contain the layer
    assert len(layer.state_dict()) == 0
    with pytest.raises(ValueError, match='pose must be'):
        layer(torch.zeros(2, 16, 4))
    with pytest.raises(ValueError, match='betas must be'):
        layer(torch.zeros(2, 48), betas=torch.zeros(2, 5))


def test_missing_model_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv('MMHANDMIM_MANO_DIR', raising=False)
    with pytest.raises(FileNotFoundError) as err:
        MANOLayer()
    assert 'mano.is.tue.mpg.de' in str(err.value)
    assert os.path.join('data', 'mano') in str(err.value)
