"""MeshVisualizationHook on a fake runner: every interval-th test sample drawn into
{work_dir}/{timestamp}/{out_dir}/ with faces from the model, validation into the backends,
disabled = no-op, and a clear error for a visualizer that cannot draw meshes."""
import glob
import os
import os.path as osp
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmengine.visualization import Visualizer
from mmpose.structures import PoseDataSample

from mmhandmim.engine.hand_mesh_visualizer import HandMeshLocalVisualizer
from mmhandmim.engine.hooks import MeshVisualizationHook
from mmhandmim.visualization.primitives import uv_sphere

K = np.array([[80.0, 0.0, 32.0], [0.0, 80.0, 32.0], [0.0, 0.0, 1.0]])
_names = iter(range(10 ** 6))


@pytest.fixture
def scene(tmp_path):
    """7 samples (images 0..6 in two folders with clashing names), a fake runner whose model
    has head.mano.faces, and a fresh current HandMeshLocalVisualizer with a local backend."""
    v, f = uv_sphere(8, 12)
    v = v * 0.08 + np.array([0.0, 0.0, 0.5])
    samples = []
    for i in range(7):
        folder = tmp_path / 'imgs' / f'seq{i % 2}'
        folder.mkdir(parents=True, exist_ok=True)
        path = str(folder / f'{i // 2:04d}.png')
        cv2.imwrite(path, np.full((64, 64, 3), 20 * i, np.uint8))
        ds = PoseDataSample()
        ds.set_metainfo(dict(img_path=path, sample_idx=i))
        ds.gt_instances = InstanceData(cam_K=K[None])
        ds.pred_instances = InstanceData(vertices=v[None].astype(np.float32))
        samples.append(ds)
    mano = SimpleNamespace(faces=torch.as_tensor(f))
    runner = SimpleNamespace(work_dir=str(tmp_path / 'work'), timestamp='20240101_000000',
                             iter=12, model=SimpleNamespace(head=SimpleNamespace(mano=mano)),
                             test_evaluator=SimpleNamespace(dataset_meta=None),
                             val_evaluator=SimpleNamespace(dataset_meta=None))
    vis = HandMeshLocalVisualizer.get_instance(
        f'hook_vis_{next(_names)}', vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path / 'backend'))
    return runner, samples, vis


def run_test_loop(hook, runner, samples, batch=3):
    hook.before_test(runner)
    for b in range(0, len(samples), batch):
        chunk = samples[b:b + batch]
        hook.after_test_iter(runner, b // batch, dict(data_samples=chunk), chunk)
    hook.after_test(runner)


@pytest.mark.parametrize('interval, drawn', [(1, range(7)), (3, [0, 3, 6]), (10, [0])])
def test_test_samples_written_every_interval(scene, interval, drawn):
    runner, samples, vis = scene
    hook = MeshVisualizationHook(enable=True, interval=interval, out_dir='vis')
    run_test_loop(hook, runner, samples)
    out_dir = osp.join(runner.work_dir, runner.timestamp, 'vis')
    expected = sorted(f'{i // 2:04d}_{i}.png' for i in drawn)
    assert sorted(os.listdir(out_dir)) == expected
    # faces came from the model; the mesh is drawn over the image read from img_path
    assert vis.faces is not None and len(vis.faces) == len(runner.model.head.mano.faces)
    first = cv2.imread(osp.join(out_dir, expected[0]))
    assert first.shape == (64, 64, 3) and (first != 0).any(axis=2).mean() > 0.05
    backend = osp.join(osp.dirname(runner.work_dir), 'backend')
    assert not glob.glob(osp.join(backend, '**', '*.png'), recursive=True)
    # a second test run counts from 0 again
    run_test_loop(hook, runner, samples)
    assert sorted(os.listdir(out_dir)) == expected


def test_validation_goes_to_the_backends(scene, tmp_path):
    runner, samples, vis = scene
    hook = MeshVisualizationHook(enable=True, interval=2)
    for _ in range(2):  # two evaluations: the same samples, tagged by the training iteration
        hook.before_val(runner)
        hook.after_val_iter(runner, 0, dict(data_samples=samples[:4]), samples[:4])
        runner.iter += 10
    saved = sorted(osp.basename(p) for p in glob.glob(
        str(tmp_path / 'backend' / '**' / '*.png'), recursive=True))
    assert saved == ['val_0000_0_12.png', 'val_0000_0_22.png', 'val_0001_2_12.png',
                     'val_0001_2_22.png']


def test_disabled_hook_does_nothing(scene):
    runner, samples, _ = scene
    Visualizer.get_instance(f'plain_{next(_names)}')  # would be refused if it were used
    hook = MeshVisualizationHook(out_dir='vis')
    run_test_loop(hook, runner, samples)
    hook.before_val(runner)
    hook.after_val_iter(runner, 0, {}, samples)
    assert not osp.exists(runner.work_dir)


def test_refuses_a_visualizer_without_meshes_and_bad_interval(scene):
    runner, samples, _ = scene
    Visualizer.get_instance(f'plain_{next(_names)}')
    hook = MeshVisualizationHook(enable=True, interval=1, out_dir='vis')
    with pytest.raises(TypeError, match='HandMeshLocalVisualizer'):
        run_test_loop(hook, runner, samples)
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match='interval'):
            MeshVisualizationHook(interval=bad)


def test_absolute_out_dir_is_used_as_given(scene, tmp_path):
    runner, samples, _ = scene
    target = tmp_path / 'elsewhere'
    hook = MeshVisualizationHook(enable=True, interval=4, out_dir=str(target))
    run_test_loop(hook, runner, samples)
    assert sorted(os.listdir(target)) == ['0000_0.png', '0002_4.png']
    assert not osp.exists(runner.work_dir)
