"""Every native thread pool is down to one thread inside a data-loader worker of our datasets
(idle OpenBLAS threads spinning after the pipeline's small matrix products doubled its CPU
cost), while the main process keeps its pools."""
import pytest
from threadpoolctl import threadpool_info, threadpool_limits
from torch.utils.data import DataLoader

import mmhandmim  # noqa: F401
from mmhandmim.datasets import FreiHANDMeshDataset
from mmhandmim.utils.worker_threads import limit_threads_in_worker


def pool_sizes(_batch=None):
    return {(i['internal_api'], i['filepath']): i['num_threads'] for i in threadpool_info()}


def sizes_in_worker(ds):
    """Pool sizes seen by the worker right after it prepared two samples (collate_fn runs in
    the worker), with the parent's pools at 2 threads so that a missing limit shows."""
    with threadpool_limits(limits=2):  # the forked worker inherits these sizes
        before = pool_sizes()
        loader = DataLoader(ds, batch_size=2, num_workers=1, collate_fn=pool_sizes)
        after = next(iter(loader))
        parent = pool_sizes()
    return before, after, parent


def check(before, after, parent):
    assert any(n == 2 for n in before.values()), before  # the test can see a change
    assert after and all(n == 1 for n in after.values()), after
    assert parent == before  # the main process is left alone


def test_unlabeled_dataset_worker_runs_single_threaded(tmp_path):
    from mmpretrain.registry import DATASETS
    from mmhandmim.standin.generation import generate_unlabeled
    generate_unlabeled(str(tmp_path), num=4, img_size=64, progress=False)
    ds = DATASETS.build(dict(type='UnlabeledHandDataset', _scope_='mmpretrain',
                             data_root=str(tmp_path),
                             pipeline=[dict(type='LoadHandCrop', out_size=64)]))
    check(*sizes_in_worker(ds))


@pytest.mark.usefixtures('mmpose_scope')
def test_mesh_dataset_worker_runs_single_threaded(mesh_roots):
    ds = FreiHANDMeshDataset(mesh_roots['freihand'], split='training',
                             image_versions=('gs', ), pipeline=[dict(type='LoadImage')])
    check(*sizes_in_worker(ds))


def test_main_process_is_not_limited():
    with threadpool_limits(limits=2):
        before = pool_sizes()
        assert limit_threads_in_worker() is False
        assert pool_sizes() == before
