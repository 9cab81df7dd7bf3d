"""The tiny mesh estimator fits 32 generated samples to below 1 mm PA-MPJPE.

Full-batch Adam on the un-augmented crops with a cosine learning rate that ends at zero, so
the bound sits where the curve has flattened rather than on its slope (the thread count
changes the trajectory from the first steps: PA 13.89 vs 14.10 mm at step 100 with 2 vs 1
threads, measured). The thread count is fixed inside the test and both counts are checked.
Starts from the mean parameters that tools/misc/compute_mean_mano_params.py computes for this
training set, as a real run would. Other seeds: ``MMHANDMIM_OVERFIT_SEEDS="0 1 2"``.

Measured (start 14.63 mm): a 900-step schedule ended at 0.26 / 0.66 / 1.13 mm for seeds
0 / 1 / 2 (1 thread) and 0.25 mm (seed 0, 2 threads), so 900 steps is still on the slope for
some seeds; 1400 steps ended at 0.12 mm for the worst of them (seed 2, 1 thread).
The crops are read at the generated images' size (``image_size=96``): the earlier version of
this test left the dataset's default 224, so the hand filled only the top-left 43 % of each
crop.
"""
import importlib.util
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmpose.registry import DATASETS, MODELS

import mmhandmim  # noqa: F401
from mmhandmim.standin.generation.common import torch_threads
from mmhandmim.evaluation.functional import procrustes_align

from .conftest import pipeline, tiny_model

pytestmark = pytest.mark.usefixtures('mmpose_scope')

TOOL = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools', 'misc',
                'compute_mean_mano_params.py')
STEPS = 1400
BOUND_MM = 1.0
SEEDS = [int(s) for s in os.environ.get('MMHANDMIM_OVERFIT_SEEDS', '0').split()]


def mean_params_file(root, path):
    spec = importlib.util.spec_from_file_location('compute_mean_mano_params', TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    ds = DATASETS.build(dict(type='FreiHANDMeshDataset', data_root=root, split='training',
                             image_versions=('gs', ), image_size=96, pipeline=[]))
    mano = MODELS.build(dict(type='MANOLayer', model_path='standin', use_pca=False))
    params = tool.mean_parameters(tool.dataset_arrays(ds), mano, 1.0, (64, 64))
    np.savez(path, **{k: params[k] for k in ('pose6d', 'betas', 'cam')})
    return str(path)


def pa_mpjpe_mm(model, data, gt):
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(data, False), mode='predict')
    model.train()
    pred = np.stack([o.pred_instances.keypoints_3d[0] for o in out])
    return float(np.linalg.norm(procrustes_align(pred, gt) - gt, axis=-1).mean() * 1000)


def fit_32_samples(root, mean_params, seed, threads, steps=STEPS, **head):
    """PA-MPJPE (mm) before and after fitting the 32 training samples."""
    with torch_threads(threads):
        torch.manual_seed(seed)
        model = MODELS.build(tiny_model(mean_params=mean_params, **head))
        model.init_weights()
        ds = DATASETS.build(dict(type='FreiHANDMeshDataset', data_root=root,
                                 split='training', image_versions=('gs', ), image_size=96,
                                 pipeline=pipeline(train=False)))
        data = pseudo_collate([ds[i] for i in range(len(ds))])
        assert len(ds) == 32
        gt = np.stack([d.gt_instances.keypoints_3d[0] for d in data['data_samples']])
        optim = torch.optim.Adam(model.parameters(), lr=2e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, steps)
        batch = model.data_preprocessor(data, True)  # fixed batch: no augmentation to redo
        start = pa_mpjpe_mm(model, data, gt)
        for _ in range(steps):
            losses = model(**batch, mode='loss')
            loss = sum(v for k, v in losses.items() if k.startswith('loss'))
            optim.zero_grad()
            loss.backward()
            optim.step()
            sched.step()
        return start, pa_mpjpe_mm(model, data, gt)


@pytest.mark.parametrize('seed', SEEDS)
@pytest.mark.parametrize('threads', [1, 2])
def test_tiny_model_overfits_32_samples(freihand_small, tmp_path, seed, threads):
    mean = mean_params_file(freihand_small, tmp_path / 'mean.npz')
    start, end = fit_32_samples(freihand_small, mean, seed, threads)
    assert 5 < start < 50  # the mean hand is a plausible but poor fit
    assert end < BOUND_MM, f'PA-MPJPE {start:.2f} -> {end:.2f} mm in {STEPS} steps'
