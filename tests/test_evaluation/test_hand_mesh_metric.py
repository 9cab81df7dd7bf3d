"""HandMeshMetric: same numbers as the standalone evaluator on the same predictions, correct
submissions (order, frame) for FreiHAND and HO3D, and distributed == single-process."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

import mmhandmim  # noqa: F401
from mmhandmim.datasets import FreiHANDMeshDataset, HO3DMeshDataset
from mmhandmim.evaluation.metrics import HandMeshMetric

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    from mmhandmim.standin.generation import (StandinHands, generate_freihand,
                                               generate_ho3d)
    hands = StandinHands()
    fr, ho = tmp_path_factory.mktemp('fr'), tmp_path_factory.mktemp('ho')
    generate_freihand(str(fr), num_train=2, num_eval=6, versions=1, img_size=96, seed=5,
                      progress=False, hands=hands)
    generate_ho3d(str(ho), num_train=2, num_eval=6, num_seqs=2, seed=5, progress=False,
                  hands=hands)
    return dict(freihand=str(fr), ho3d=str(ho))


def samples_from(ds, noise=0.004, seed=0):
    """Data samples as the evaluator hands them to metrics, with noisy predictions."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        kp, vs = info['keypoints_3d'], info['vertices']
        offset = rng.normal(0, 0.01, (1, 1, 3))  # a global shift: unaligned != aligned
        out.append(dict(
            sample_idx=i, warp_mat=np.array([[1., 0, 0], [0, 1, 0]]),
            pred_instances=dict(keypoints_3d=(kp + offset + rng.normal(0, noise, kp.shape)
                                              ).astype(np.float32),
                                vertices=(vs + offset + rng.normal(0, noise, vs.shape)
                                          ).astype(np.float32)),
            gt_instances=dict(keypoints_3d=kp, vertices=vs, has_3d=info['has_3d'])))
    return out


def run_metric(samples, size=None, **kwargs):
    """``size``: the whole dataset's length (a rank only processes its share)."""
    metric = HandMeshMetric(**kwargs)
    metric.dataset_meta = {}
    metric.process([], samples)
    return metric.evaluate(size or len(samples))


def evaluator(pred, gt_dir, protocol, out_dir):
    res = subprocess.run([sys.executable, 'tools/analysis/eval_hand_mesh.py', '--pred', pred,
                          '--gt-dir', gt_dir, '--protocol', protocol, '--out-dir', out_dir],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    with open(osp.join(out_dir, 'scores.json')) as f:
        return json.load(f)


@pytest.mark.parametrize('protocol', ['freihand', 'ho3d'])
def test_metric_equals_standalone_evaluator(roots, tmp_path, protocol):
    ds = (FreiHANDMeshDataset(roots['freihand'], split='evaluation') if protocol == 'freihand'
          else HO3DMeshDataset(roots['ho3d'], split='evaluation'))
    samples = samples_from(ds)
    keys = ('pa_mpjpe', 'pa_mpvpe', 'mpjpe', 'mpvpe', 'f5', 'pa_f5', 'f15', 'pa_f15', 'auc_j',
            'pa_auc_j', 'auc_v', 'pa_auc_v') + (('st_mpjpe', 'st_auc_j')
                                                if protocol == 'ho3d' else ())
    in_loop = run_metric(samples, protocol=protocol, metric_keys=keys)
    run_metric(samples, protocol=protocol, format_only=True, outfile_dir=str(tmp_path))
    assert osp.isfile(tmp_path / 'pred.zip')
    scores = evaluator(str(tmp_path / 'pred.json'), roots[protocol], protocol,
                       str(tmp_path / 'report'))
    for k in keys:
        assert in_loop[f'mesh/{k}'] == pytest.approx(scores[k], rel=1e-12, abs=1e-12), k
    assert 1.0 < in_loop['mesh/pa_mpjpe'] < in_loop['mesh/mpjpe']  # noise in mm, shift hurts


def test_ho3d_submission_is_opengl_and_ho3d_order(roots, tmp_path):
    ds = HO3DMeshDataset(roots['ho3d'], split='evaluation')
    samples = samples_from(ds, noise=0.0)
    for s in samples:  # exact predictions
        s['pred_instances'] = dict(keypoints_3d=s['gt_instances']['keypoints_3d'],
                                   vertices=s['gt_instances']['vertices'])
    run_metric(samples, protocol='ho3d', format_only=True, outfile_dir=str(tmp_path))
    with open(tmp_path / 'pred.json') as f:
        xyz, verts = (np.asarray(a) for a in json.load(f))
    with open(osp.join(roots['ho3d'], 'evaluation_xyz.json')) as f:
        gt_xyz = np.asarray(json.load(f))
    np.testing.assert_allclose(xyz, gt_xyz, atol=1e-12)  # HO3D order, OpenGL frame
    assert (xyz[..., 2] < 0).all()
    scores = evaluator(str(tmp_path / 'pred.json'), roots['ho3d'], 'ho3d', str(tmp_path / 'r'))
    assert scores['mpjpe'] < 1e-9 and scores['pa_mpvpe'] < 1e-6 and scores['f5'] == 1.0


def test_submission_not_overwritten(roots, tmp_path):
    ds = FreiHANDMeshDataset(roots['freihand'], split='evaluation')
    samples = samples_from(ds)
    run_metric(samples, format_only=True, outfile_dir=str(tmp_path))
    with pytest.raises(FileExistsError, match='pred.json'):
        run_metric(samples, format_only=True, outfile_dir=str(tmp_path))


def test_missing_ground_truth_asks_for_format_only(roots, tmp_path):
    ds = FreiHANDMeshDataset(roots['freihand'], split='evaluation')
    samples = samples_from(ds)
    for s in samples:
        s['gt_instances']['has_3d'] = np.zeros(1)
    with pytest.raises(ValueError, match='format_only'):
        run_metric(samples)


def _dist_worker(rank, world, init_file, samples, out_file):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank,
                            world_size=world)
    # DefaultSampler(shuffle=False) hands rank r the samples r, r + world, ...
    res = run_metric(samples[rank::world], size=len(samples), protocol='ho3d')
    if rank == 0:
        torch.save(res, out_file)
    dist.destroy_process_group()


def test_distributed_evaluation_equals_single_process(roots, tmp_path):
    ds = HO3DMeshDataset(roots['ho3d'], split='evaluation')
    samples = samples_from(ds)[:5]  # odd count: ranks get 3 and 2 samples
    single = run_metric(samples, protocol='ho3d')
    out = tmp_path / 'dist.pt'
    torch.multiprocessing.spawn(_dist_worker, args=(2, str(tmp_path / 'init'), samples,
                                                    str(out)), nprocs=2)
    dist_res = torch.load(out, weights_only=False)
    assert dist_res == single
