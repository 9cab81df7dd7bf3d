"""Draw predicted hand meshes during validation and testing (mmpose's ``PoseVisualizationHook``
for mesh estimators).

Differences from mmpose's hook: ``interval`` counts samples in testing too (mmpose draws every
test sample), the output folder is resolved once per test run (mmpose re-joins it on every
iteration, nesting a relative ``work_dir``), and files are named ``{stem}_{sample_idx}{ext}``
so images of the same name in different folders (HO3D sequences) and ranks do not collide.
"""
import os.path as osp
from typing import TYPE_CHECKING, Optional, Sequence

import mmcv
import torch
from mmengine import fileio
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.utils import mkdir_or_exist
from mmengine.visualization import Visualizer
from mmpose.registry import HOOKS

from ..hand_mesh_visualizer import HandMeshLocalVisualizer

if TYPE_CHECKING:
    from mmengine.runner import Runner


@HOOKS.register_module()
class MeshVisualizationHook(Hook):
    """Draw every ``interval``-th validation / test sample with ``HandMeshLocalVisualizer``.

    In testing the drawings go to ``{work_dir}/{timestamp}/{out_dir}/`` when ``out_dir`` is set
    (an absolute ``out_dir`` is used as given), else to the visualizer's backends; in
    validation always to the backends (tag ``val_{stem}_{sample_idx}``, step = training
    iteration). ``show`` displays them instead of storing them in the backends (mmpose).

    Args:
        enable (bool): draw at all; False (default) makes every method a no-op.
        interval (int): draw samples 0, interval, 2 * interval, ... of each run (counted per
            rank).
        kpt_thr (float): minimum predicted keypoint score to draw a keypoint.
        show (bool): display each drawing in a window.
        wait_time (float): seconds each window is shown.
        out_dir (str, optional): test output folder, relative to ``{work_dir}/{timestamp}``.
        draw_gt (bool): also draw the ground truth, left of the prediction.
        backend_args (dict, optional): file backend arguments for reading ``img_path``.

    Raises:
        ValueError: ``interval`` is not an integer >= 1.
    """

    def __init__(self,
                 enable: bool = False,
                 interval: int = 50,
                 kpt_thr: float = 0.3,
                 show: bool = False,
                 wait_time: float = 0.,
                 out_dir: Optional[str] = None,
                 draw_gt: bool = False,
                 backend_args: Optional[dict] = None) -> None:
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise ValueError(f'interval must be an integer >= 1, got {interval!r}')
        self.enable = enable
        self.interval = interval
        self.kpt_thr = kpt_thr
        self.show = show
        self.wait_time = wait_time
        self.out_dir = out_dir
        self.draw_gt = draw_gt
        self.backend_args = backend_args
        self._visualizer: Optional[HandMeshLocalVisualizer] = None
        self._out_path: Optional[str] = None
        self._index = dict(val=0, test=0)
        self._written = 0

    # --- set-up ---------------------------------------------------------------------------
    def _setup(self, runner) -> HandMeshLocalVisualizer:
        if self._visualizer is not None:
            return self._visualizer
        vis = Visualizer.get_current_instance()
        if not isinstance(vis, HandMeshLocalVisualizer):
            raise TypeError(f'MeshVisualizationHook draws with HandMeshLocalVisualizer, but the '
                            f'runner\'s visualizer is {type(vis).__name__}; set '
                            "visualizer=dict(type='HandMeshLocalVisualizer', ...) in the "
                            'config (configs/_base_/default_runtime_mesh.py does)')
        if self.show:
            vis._vis_backends = {}  # as mmpose: shown, not stored
        if vis.faces is None:
            model = runner.model.module if is_model_wrapper(runner.model) else runner.model
            faces = getattr(getattr(getattr(model, 'head', None), 'mano', None), 'faces', None)
            if faces is not None:
                vis.set_mesh_faces(faces)
            else:
                print_log('MeshVisualizationHook: the model has no head.mano.faces; drawing '
                          'keypoints only', logger='current')
        self._visualizer = vis
        return vis

    def before_val(self, runner: 'Runner') -> None:
        """Restart the sample count: the same samples are drawn in every evaluation.

        Args:
            runner (Runner): the runner.
        """
        self._index['val'] = 0  # the same samples in every evaluation

    def before_test(self, runner: 'Runner') -> None:
        """Restart the counts and create the output folder (when ``out_dir`` is set).

        Args:
            runner (Runner): the runner.
        """
        if not self.enable:
            return
        self._index['test'] = 0
        self._written = 0
        self._out_path = None
        if self.out_dir is not None:
            self._out_path = osp.join(runner.work_dir, runner.timestamp, self.out_dir)
            mkdir_or_exist(self._out_path)

    def after_test(self, runner: 'Runner') -> None:
        """Log how many drawings all ranks wrote to the output folder.

        Args:
            runner (Runner): the runner.
        """
        if self.enable and self._out_path is not None:
            written = torch.tensor(self._written)
            all_reduce(written)  # every rank writes its share; no-op without distributed
            print_log(f'MeshVisualizationHook: wrote {int(written)} drawings to '
                      f'{self._out_path}', logger='current')

    # --- drawing --------------------------------------------------------------------------
    def after_val_iter(self, runner: 'Runner', batch_idx: int, data_batch: dict,
                       outputs: Sequence) -> None:
        """Draw the due samples of a validation batch into the backends.

        Args:
            runner (Runner): the runner.
            batch_idx (int): index of the batch.
            data_batch (dict): the batch (not used).
            outputs (Sequence): the predicted data samples (``PoseDataSample``).

        Raises:
            TypeError: the runner's visualizer is not a ``HandMeshLocalVisualizer``.
        """
        self._draw(runner, 'val', outputs)

    def after_test_iter(self, runner: 'Runner', batch_idx: int, data_batch: dict,
                        outputs: Sequence) -> None:
        """Draw the due samples of a test batch (files in ``out_dir``, or the backends).

        Args:
            runner (Runner): the runner.
            batch_idx (int): index of the batch.
            data_batch (dict): the batch (not used).
            outputs (Sequence): the predicted data samples (``PoseDataSample``).

        Raises:
            TypeError: the runner's visualizer is not a ``HandMeshLocalVisualizer``.
        """
        self._draw(runner, 'test', outputs)

    def _draw(self, runner, mode: str, outputs: Sequence) -> None:
        if not self.enable:
            return
        due = []
        for data_sample in outputs:
            if self._index[mode] % self.interval == 0:
                due.append((self._index[mode], data_sample))
            self._index[mode] += 1
        if not due:
            return
        vis = self._setup(runner)
        evaluator = getattr(runner, f'{mode}_evaluator', None)
        meta = getattr(evaluator, 'dataset_meta', None)
        if isinstance(meta, dict):
            vis.set_dataset_meta(meta)
        for index, data_sample in due:
            img_path = data_sample.metainfo['img_path']
            img = mmcv.imfrombytes(fileio.get(img_path, backend_args=self.backend_args),
                                   channel_order='rgb')
            stem, ext = osp.splitext(osp.basename(img_path))
            key = f'{stem}_{data_sample.metainfo.get("sample_idx", index)}'
            out_file, name, step = None, f'{mode}_{key}', runner.iter if mode == 'val' else 0
            if mode == 'test' and self._out_path is not None:
                out_file = osp.join(self._out_path, key + (ext or '.png'))
            if self.show:
                name = osp.basename(img_path)
            vis.add_datasample(name, img, data_sample, draw_gt=self.draw_gt, draw_pred=True,
                               show=self.show, wait_time=self.wait_time, out_file=out_file,
                               kpt_thr=self.kpt_thr, step=step)
            self._written += out_file is not None

