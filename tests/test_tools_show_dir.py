"""tools/test.py --show-dir/--show/--interval: the hook enabled (or added) as mmpose's
merge_args does, the drawings of a tiny mesh model on generated FreiHAND-layout data end to
end, and one-line errors for bad arguments."""
import glob
import importlib.util
import os.path as osp
import sys
from types import SimpleNamespace

import cv2
import pytest
from mmengine.config import Config

from tests.test_apis.conftest import freihand_tiny, tiny_ckpt  # noqa: F401  (fixtures)
from tests.test_mesh.conftest import tiny_model
from tests.test_tools import error_line, run_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO = osp.join(ROOT, 'configs', 'demo', 'mesh_vit-tiny_freihand_demo.py')


def load_test_tool():
    sys.path.insert(0, osp.join(ROOT, 'tools'))  # its `import _bootstrap`
    spec = importlib.util.spec_from_file_location('tools_test', osp.join(ROOT, 'tools',
                                                                        'test.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def vis_args(show_dir='vis', show=False, interval=1, wait_time=1.0):
    return SimpleNamespace(show_dir=show_dir, show=show, interval=interval,
                           wait_time=wait_time)


def test_enable_visualization_per_config_kind():
    tool = load_test_tool()
    # mesh config: its MeshVisualizationHook is enabled, the mesh visualizer kept
    cfg = Config.fromfile(DEMO)
    hook = tool.enable_visualization(cfg, vis_args(interval=3))
    assert cfg.default_hooks.visualization is hook
    assert (hook.type, hook.enable, hook.out_dir, hook.interval, hook.show) == (
        'MeshVisualizationHook', True, 'vis', 3, False)
    assert cfg.visualizer.type == 'HandMeshLocalVisualizer'
    # an mmpose 2D config: mmpose's own hook, as mmpose's tools/test.py
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'mmpose',
                                   'td-hm_handmim-vit-s_freihand2d-224.py'))
    hook = tool.enable_visualization(cfg, vis_args())
    assert hook.type == 'PoseVisualizationHook' and hook.enable
    assert cfg.visualizer.type == 'PoseLocalVisualizer'
    # no visualization hook at all: the mesh hook is added, the visualizer switched
    cfg = Config.fromfile(DEMO)
    del cfg.default_hooks['visualization']
    cfg.visualizer = dict(type='PoseLocalVisualizer', name='v',
                          vis_backends=[dict(type='TensorboardVisBackend')], radius=9)
    hook = tool.enable_visualization(cfg, vis_args(interval=2))
    assert cfg.default_hooks.visualization.type == 'MeshVisualizationHook'
    assert cfg.default_hooks.visualization.interval == 2
    assert cfg.visualizer == dict(type='HandMeshLocalVisualizer', name='v',
                                  vis_backends=[dict(type='TensorboardVisBackend')])
    # a MeshVisualizationHook in custom_hooks wins over default_hooks.visualization
    cfg = Config.fromfile(DEMO)
    cfg.default_hooks.visualization = dict(type='PoseVisualizationHook', enable=False)
    cfg.custom_hooks = [dict(type='MeshVisualizationHook', draw_gt=True)]
    tool.enable_visualization(cfg, vis_args())
    assert cfg.custom_hooks[0].enable and not cfg.default_hooks.visualization.enable


@pytest.fixture
def mesh_config(tiny_ckpt, freihand_tiny, tmp_path):  # noqa: F811
    """The demo config with the tiny model of the mesh tests, on 3 generated images."""
    cfg = Config.fromfile(DEMO)
    cfg.model = tiny_model()
    cfg.test_dataloader.batch_size = 2
    cfg.test_dataloader.dataset.update(data_root=freihand_tiny, image_size=96)
    path = str(tmp_path / 'tiny_mesh.py')
    cfg.dump(path)
    return path, tiny_ckpt[1]


def test_show_dir_draws_every_interval_th_sample(mesh_config, freihand_tiny,  # noqa: F811
                                                 tmp_path):
    cfg, ckpt = mesh_config
    work = tmp_path / 'work'
    res = run_tool([sys.executable, 'tools/test.py', cfg, ckpt, '--work-dir', str(work),
                    '--show-dir', 'vis', '--interval', '2'])
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert 'pa_mpjpe' in out  # the evaluation still runs
    files = sorted(glob.glob(str(work / '*' / 'vis' / '*')))
    # samples 0 and 2 of 3; named {stem}_{sample_idx}{ext}, in {work_dir}/{timestamp}/vis/
    assert [osp.basename(p) for p in files] == ['00000000_0.jpg', '00000002_2.jpg']
    assert 'wrote 2 drawings' in out
    for path, idx in zip(files, (0, 2)):
        src = cv2.imread(osp.join(freihand_tiny, 'evaluation', 'rgb', f'{idx:08d}.jpg'))
        drawn = cv2.imread(path)
        assert drawn.shape == src.shape
        # a mesh overlay, not a re-encoded copy (JPEG noise stays far below this)
        assert (cv2.absdiff(drawn, src).max(axis=2) > 40).mean() > 0.01


def test_bad_visualization_arguments_are_one_line(mesh_config, tmp_path):
    cfg, ckpt = mesh_config
    base = [sys.executable, 'tools/test.py', cfg, ckpt, '--work-dir', str(tmp_path / 'w')]
    line = error_line(run_tool(base + ['--show-dir', 'vis', '--interval', '0']))
    assert '--interval must be >= 1' in line
    res = run_tool(base + ['--show'], env=dict(DISPLAY='', WAYLAND_DISPLAY=''))
    assert '--show needs a display' in error_line(res)
    (tmp_path / 'taken').write_text('')
    line = error_line(run_tool(base + ['--show-dir', str(tmp_path / 'taken')]))
    assert '--show-dir is an existing file' in line
