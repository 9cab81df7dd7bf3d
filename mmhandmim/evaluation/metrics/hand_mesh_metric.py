"""FreiHAND / HO3D mesh metrics for MMEngine evaluators, and benchmark submission writing.

The numbers come from ``evaluate_hand_mesh`` (the functions the standalone evaluator uses) on
the predictions converted to the benchmark's joint order and camera frame, so this metric and
``tools/analysis/eval_hand_mesh.py`` on the written ``pred.json`` agree exactly.
"""
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger
from mmpose.registry import METRICS

from ...structures import crop_to_source
from ...utils.errors import ConfigError, UserInputError
from ..baselines import (BASELINE_NAMES, baseline_hands, build_baseline_mano,
                         evaluate_baselines, format_comparison)
from ..functional import evaluate_hand_mesh
from ..protocol_space import check_protocol, to_benchmark
from ..report import format_table
from ..submission import write_submission

DEFAULT_KEYS = ('pa_mpjpe', 'pa_mpvpe', 'mpjpe', 'mpvpe', 'pa_f5', 'pa_f15', 'f5', 'f15',
                'pa_auc_j', 'pa_auc_v')


def _array(x):
    return x.detach().cpu().numpy() if hasattr(x, 'detach') else np.asarray(x)


@METRICS.register_module()
class HandMeshMetric(BaseMetric):
    """PA-MPJPE, PA-MPVPE, MPJPE, MPVPE (mm), F@5/F@15 and AUCs, as the official scripts.

    Args:
        protocol (str): 'freihand' or 'ho3d' (joint order, camera frame and HO3D's extra
            scale+translation alignment).
        metric_keys (Sequence[str]): which of ``evaluate_hand_mesh``'s keys to report.
        format_only (bool): only write the submission (``pred.json`` + ``pred.zip``) in the
            dataset's order, the benchmark's joint order and frame; no ground truth needed.
        outfile_dir (str, optional): where the submission goes (required with
            ``format_only``).
        overwrite (bool): replace an existing submission in ``outfile_dir``.
        baselines (dict, optional): None, or ``dict(mano=MANOLayer config,
            mean_params=None or NPZ)`` to score the trivial baselines
            (``mmhandmim.evaluation.baselines``) on the same samples: the constant hand, and
            the training-set mean pose when ``mean_params`` is given (the file
            ``tools/misc/compute_mean_mano_params.py`` writes). The comparison table is
            logged and ``baseline/<name>_<key>`` is returned for every metric key. ``mano``
            is forced to ``keypoint_order='freihand'``; ``flat_hand_mean`` and
            ``fingertip_ids`` default to the protocol's conventions.
        collect_device (str): device of the results' collection, as ``BaseMetric``.
        prefix (str, optional): prefix of the metric names; None: ``'mesh'``.

    Raises:
        ValueError: an unknown protocol, ``format_only`` without ``outfile_dir``, or bad
            ``baselines`` settings (named in the message).
    """

    default_prefix = 'mesh'

    def __init__(self, protocol: str = 'freihand', metric_keys: Sequence[str] = DEFAULT_KEYS,
                 format_only: bool = False, outfile_dir: Optional[str] = None,
                 overwrite: bool = False, baselines: Optional[dict] = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        check_protocol(protocol)
        if format_only and not outfile_dir:
            raise ConfigError('HandMeshMetric(format_only=True) needs outfile_dir=DIR for '
                             'pred.json/pred.zip')
        self.protocol, self.metric_keys = protocol, tuple(metric_keys)
        self.format_only, self.outfile_dir, self.overwrite = format_only, outfile_dir, overwrite
        # built once here: bad settings fail at start-up, and MANO runs once, not per sample
        self.baseline_hands = None if baselines is None else self._build_baselines(baselines)

    def _build_baselines(self, cfg):
        where = 'HandMeshMetric(baselines=...)'
        if not isinstance(cfg, dict):
            raise ConfigError(f'{where}: expected dict(mano=..., mean_params=None or NPZ), '
                             f'got {cfg!r}')
        unknown = sorted(set(cfg) - {'mano', 'mean_params'})
        if unknown or 'mano' not in cfg:
            raise ConfigError(f'{where}: ' + (f'unknown keys {unknown}' if unknown else
                                             "missing key 'mano'") +
                             "; expected mano=dict(type='MANOLayer', ...) and optionally "
                             'mean_params=NPZ')
        mano = build_baseline_mano(cfg['mano'], self.protocol, where=f'{where} mano')
        try:
            return baseline_hands(mano, cfg.get('mean_params'))
        except UserInputError as exc:
            raise ConfigError(f'{where} mean_params: {exc}') from None

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        """Keep each sample's prediction and, unless ``format_only``, its ground truth.

        The ground truth is brought from the crop's camera back to the dataset's camera frame
        (the predictions' frame, ``HandMeshEstimator``) when the sample has a ``warp_mat``.

        Args:
            data_batch (Any): the batch (not used).
            data_samples (Sequence[dict]): the predicted samples as dicts, with
                ``pred_instances`` (``keypoints_3d``, ``vertices``) and ``gt_instances``
                (``has_3d``, ``keypoints_3d``, ``vertices``).
        """
        for ds in data_samples:
            pred, gt = ds['pred_instances'], ds['gt_instances']
            res = dict(sample_idx=int(ds.get('sample_idx', len(self.results))),
                       pred_xyz=_array(pred['keypoints_3d']).reshape(21, 3),
                       pred_verts=_array(pred['vertices']).reshape(-1, 3))
            if not self.format_only:
                res['has_3d'] = bool(_array(gt['has_3d']).reshape(-1)[0])
                xyz = _array(gt['keypoints_3d']).reshape(21, 3)
                verts = _array(gt['vertices']).reshape(-1, 3)
                # predictions come in the dataset's camera frame (HandMeshEstimator); the
                # packed ground truth is in the crop's camera (rotated if the crop was)
                warp = ds.get('warp_mat')
                if warp is not None:
                    back = crop_to_source(warp, xyz=xyz, verts=verts)
                    xyz, verts = back['xyz'], back['verts']
                res['gt_xyz'], res['gt_verts'] = xyz, verts
            self.results.append(res)

    def _to_benchmark(self, xyz, verts):
        return to_benchmark(xyz, verts, self.protocol)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Score the collected samples in the benchmark's order and frame, or write them.

        Samples are sorted by ``sample_idx`` (duplicates dropped). The metrics table (and,
        with ``baselines``, the comparison table) is logged.

        Args:
            results (List[dict]): what :meth:`process` kept, from all processes.

        Returns:
            Dict[str, float]: the ``metric_keys`` scores and ``baseline/<name>_<key>`` for
            each baseline; empty with ``format_only`` (the submission is written instead).

        Raises:
            ValueError: some samples have no 3D ground truth.
            KeyError: unknown ``metric_keys``.
        """
        logger = MMLogger.get_current_instance()
        # distributed collection keeps dataset order; sort and de-duplicate to be certain
        by_idx = {r['sample_idx']: r for r in results}
        results = [by_idx[k] for k in sorted(by_idx)]
        pred_xyz, pred_verts = self._to_benchmark(
            np.stack([r['pred_xyz'] for r in results]).astype(np.float64),
            np.stack([r['pred_verts'] for r in results]).astype(np.float64))
        if self.format_only:
            write_submission(pred_xyz, pred_verts, self.outfile_dir, overwrite=self.overwrite)
            logger.info(f'submission written to {osp.join(self.outfile_dir, "pred.json")} '
                        f'({len(results)} samples, {self.protocol} order and frame)')
            return {}
        if not all(r['has_3d'] for r in results):
            raise ValueError(
                'HandMeshMetric: some evaluation samples have no 3D ground truth (e.g. the '
                'HO3D evaluation split without evaluation_xyz.json/evaluation_verts.json); '
                'use format_only=True to write a submission instead')
        gt_xyz, gt_verts = self._to_benchmark(
            np.stack([r['gt_xyz'] for r in results]).astype(np.float64),
            np.stack([r['gt_verts'] for r in results]).astype(np.float64))
        scores = evaluate_hand_mesh(pred_xyz, pred_verts, gt_xyz, gt_verts, self.protocol)
        logger.info(f'{self.protocol} mesh metrics on {len(results)} samples:\n'
                    + format_table(scores))
        unknown = set(self.metric_keys) - set(scores)
        if unknown:
            raise KeyError(f'unknown metric_keys {sorted(unknown)}; available: '
                           f'{sorted(scores)}')
        out = {k: float(scores[k]) for k in self.metric_keys}
        if self.baseline_hands is not None:
            base = evaluate_baselines(self.baseline_hands, gt_xyz, gt_verts, self.protocol)
            logger.info(f'{self.protocol} model vs. trivial baselines on {len(results)} '
                        'samples:\n' + format_comparison(scores, base))
            for name in BASELINE_NAMES:
                out.update({f'baseline/{name}_{k}': float(base[name][k])
                            for k in self.metric_keys if name in base})
        return out
