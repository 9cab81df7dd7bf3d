"""tools/misc/compute_mean_mano_params.py: vectorised test-crop cameras
against the real pipeline, the .npz the head starts from, overwrite refusal and clear errors
(generated FreiHAND/HO3D data, stand-in hand model, not MANO)."""
import importlib.util
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

import mmhandmim  # noqa: F401
from mmhandmim.structures import axis_angle_to_matrix, rot6d_to_matrix
from mmhandmim.models.mesh.camera import translation_to_weak_cam

from .conftest import pipeline, tiny_model

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'misc', 'compute_mean_mano_params.py')
IMG = 96  # generated image size (freihand_small)


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('compute_mean_mano_params', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def ho3d_small(tmp_path_factory):
    from mmhandmim.standin.generation import generate_ho3d
    root = tmp_path_factory.mktemp('ho3d_small')
    generate_ho3d(str(root), num_train=6, num_eval=3, num_seqs=2, seed=3, progress=False)
    return str(root)


def freihand(root, train=True, **kw):
    kw.setdefault('image_versions', ('gs', ))
    return dict(type='FreiHANDMeshDataset', data_root=root, image_size=IMG,
                pipeline=pipeline(train), **kw)


def write_config(path, train_ds, test_ds):
    loader = lambda ds: dict(batch_size=2, num_workers=0, dataset=ds)  # noqa: E731
    text = (f'model = {tiny_model()!r}\n'
            f'train_dataloader = {loader(train_ds)!r}\n'
            f'test_dataloader = {loader(test_ds)!r}\n')
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


@pytest.fixture
def freihand_config(freihand_small, tmp_path):
    return write_config(tmp_path / 'cfg.py', freihand(freihand_small),
                        freihand(freihand_small, False, split='evaluation', test_mode=True))


def build(cfg):
    from mmpose.registry import DATASETS, MODELS
    with DefaultScope.overwrite_default_scope('mmpose'):
        return (DATASETS if 'Dataset' in cfg['type'] else MODELS).build(cfg)


# --- vectorised arrays and cameras against the real pipeline ---------------------------------
def pipeline_cameras(ds, idx, input_size=(64, 64)):
    cams = []
    for i in idx:
        gt = ds[int(i)]['data_samples'].gt_instances
        K, root = gt.cam_K[0], gt.keypoints_3d[0, 0]
        cams.append(translation_to_weak_cam(torch.as_tensor(root, dtype=torch.float64)[None],
                                            torch.as_tensor(K, dtype=torch.float64)[None],
                                            input_size)[0].numpy())
    return np.stack(cams)


@pytest.mark.parametrize('source', ['freihand-image', 'freihand-keypoints', 'ho3d-train'])
def test_vectorised_cameras_equal_the_test_pipeline(tool, freihand_small, ho3d_small, source):
    if source.startswith('freihand'):
        cfg = freihand(freihand_small, False, bbox_source=source.split('-')[1])
    else:
        cfg = dict(type='HO3DMeshDataset', data_root=ho3d_small, split='train',
                   pipeline=pipeline(False))
    ds = build(cfg)
    idx = np.array([0, 3, len(ds) - 1])
    fast = tool.dataset_arrays(ds, idx)
    slow = tool._generic_arrays(ds, idx)        # the samples get_data_info makes
    for key in tool.FIELDS:
        np.testing.assert_allclose(fast[key], slow[key], rtol=0, atol=1e-6, err_msg=key)
    cams = tool.crop_cameras(fast['K'], fast['joints'], fast['bbox'], 1.0, (64, 64))
    np.testing.assert_allclose(cams, pipeline_cameras(ds, idx), rtol=1e-5, atol=1e-6)


def test_concat_and_repeat_datasets(tool, freihand_small):
    from mmengine.dataset import ConcatDataset, RepeatDataset
    a = build(freihand(freihand_small, False))
    b = build(freihand(freihand_small, False, bbox_source='keypoints'))
    for ds, idx in ((ConcatDataset([a, b]), [len(a) + 1, 2, len(a) + 5, 0]),
                    (RepeatDataset(b, times=2), [len(b) + 1, 2, len(b) + 5, 0])):
        fast = tool.dataset_arrays(ds, idx)
        slow = tool._generic_arrays(ds, idx)
        for key in tool.FIELDS:
            np.testing.assert_allclose(fast[key], slow[key], rtol=0, atol=1e-6, err_msg=key)


# --- the tool end to end -----------------------------------------------------------------------
def test_tool_writes_the_mean_and_the_head_starts_from_it(tool, freihand_config,
                                                          freihand_small, tmp_path, capsys):
    out = str(tmp_path / 'mean.npz')
    tool.main([freihand_config, '--out', out])
    assert 'wrote' in capsys.readouterr().out
    with np.load(out) as f:
        saved = {k: f[k] for k in f.files}
    assert saved['pose6d'].shape == (16, 6) and saved['betas'].shape == (10, )
    assert saved['cam'].shape == (3, ) and int(saved['num_samples']) == 32

    # reference: every training sample through get_data_info, the hand model, the real test
    # pipeline; chordal mean by brute force
    mano = build(dict(type='MANOLayer', model_path='standin')).double()
    ds = build(freihand(freihand_small, False))
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    pose = torch.as_tensor(np.concatenate([i['mano_pose'] for i in infos]), dtype=torch.float64)
    # the rotations the hand model skins with: the datasets store fingers relative to
    # hands_mean (flat_hand_mean=False), the head's 6D pose is the full rotation
    assert mano.pose_mean.abs().max() > 0.1
    rot = axis_angle_to_matrix((pose + mano.pose_mean).view(-1, 16, 3))
    u, _, vh = torch.linalg.svd(rot.mean(0))
    ref_rot = u @ vh
    assert (torch.det(ref_rot) > 0).all()
    torch.testing.assert_close(rot6d_to_matrix(torch.as_tensor(saved['pose6d'],
                                                               dtype=torch.float64)),
                               ref_rot, atol=1e-6, rtol=0)
    np.testing.assert_allclose(saved['betas'], np.concatenate(
        [i['mano_betas'] for i in infos]).mean(0), atol=1e-6)
    np.testing.assert_allclose(saved['cam'], pipeline_cameras(ds, range(len(ds))).mean(0),
                               rtol=1e-5, atol=1e-6)

    # the head loads it: its iteration-0 starting estimate is the file
    head = build(tiny_model(mean_params=out)).head
    for key in ('pose6d', 'betas', 'cam'):
        np.testing.assert_array_equal(getattr(head, f'init_{key}').numpy(), saved[key])
    # and it differs from the fallback (so the test would notice the file being ignored)
    fallback = build(tiny_model()).head
    assert not torch.allclose(fallback.init_cam, head.init_cam)


def test_max_samples(tool, freihand_config, tmp_path):
    out = str(tmp_path / 'few.npz')
    tool.main([freihand_config, '--out', out, '--max-samples', '5'])
    with np.load(out) as f:
        assert int(f['num_samples']) == 5


def test_refuses_to_overwrite(tool, freihand_config, tmp_path, capsys):
    out = tmp_path / 'mean.npz'
    out.write_bytes(b'keep me')
    with pytest.raises(SystemExit) as exc:
        tool.main([freihand_config, '--out', str(out)])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and '--overwrite' in err
    assert out.read_bytes() == b'keep me'
    tool.main([freihand_config, '--out', str(out), '--overwrite'])
    with np.load(out) as f:
        assert f['pose6d'].shape == (16, 6)
    assert [p for p in os.listdir(tmp_path) if p.endswith('.npz')] == ['mean.npz']  # no tmp


def test_clear_error_without_mano_labels(tool, ho3d_small, freihand_small, tmp_path, capsys):
    # HO3D's evaluation split has no MANO parameters
    ho3d_eval = dict(type='HO3DMeshDataset', data_root=ho3d_small, split='evaluation',
                     test_mode=True, pipeline=pipeline(False))
    cfg = write_config(tmp_path / 'cfg.py', freihand(freihand_small), ho3d_eval)
    with pytest.raises(SystemExit) as exc:
        tool.main([cfg, '--out', str(tmp_path / 'm.npz'), '--split', 'test'])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'MANO labels' in err
    assert not osp.exists(tmp_path / 'm.npz')
