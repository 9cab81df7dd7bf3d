"""The complete FreiHAND / HO3D evaluation on arrays, and the official score-file names."""
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict

import numpy as np

from ...utils.memory import empty_array
from ._array import ArrayLike
from .alignment import procrustes_align, scale_translation_align
from .point_errors import PCK_THRESHOLDS, auc, mean_error, pck_curve, point_distances
from .fscore import F_THRESHOLDS, f_score
from .validation import check_prediction

PROTOCOLS = ('freihand', 'ho3d')
_BLOCK = 256  # samples per block


def _summary(dists):
    """(mean error in mm, AUC, mean PCK curve) of an (N, K) distance array in metres."""
    pck = pck_curve(dists, PCK_THRESHOLDS)
    return mean_error(dists) * 1000.0, auc(pck, PCK_THRESHOLDS), pck.mean(axis=0)


def evaluate_hand_mesh(pred_xyz: ArrayLike, pred_verts: ArrayLike, gt_xyz: ArrayLike,
                       gt_verts: ArrayLike, protocol: str = 'freihand',
                       return_per_sample: bool = False) -> Dict[str, Any]:
    """Official FreiHAND/HO3D metrics for (N, 21, 3) joints and (N, V, 3) vertices in metres.

    Joints are compared in the submitted order. Procrustes is fitted separately on joints and
    on vertices, as the official scripts do.

    Args:
        pred_xyz (ArrayLike): (N, 21, 3) predicted joints.
        pred_verts (ArrayLike): (N, V, 3) predicted vertices.
        gt_xyz (ArrayLike): (N, 21, 3) ground-truth joints.
        gt_verts (ArrayLike): (N, V, 3) ground-truth vertices.
        protocol (str): 'freihand' or 'ho3d' (adds the scale-translation aligned joints).
        return_per_sample (bool): also return per-sample values and the PCK curves.

    Returns:
        Dict[str, Any]: floats ``mpjpe, pa_mpjpe, mpvpe, pa_mpvpe`` (mm), ``auc_j,
        pa_auc_j, auc_v, pa_auc_v`` (0..1), ``f5, pa_f5, f15, pa_f15`` (0..1), plus
        ``st_mpjpe, st_auc_j`` for ``protocol='ho3d'``. With ``return_per_sample=True``
        also ``per_sample`` (dict of (N,) arrays: mean errors in mm and F-scores) and
        ``pck_curves`` (dict with ``thresholds_mm`` and the mean PCK curve of each error
        kind).

    Raises:
        ValueError: an unknown protocol, wrong shapes or sample counts, non-finite values,
            or a vertex count that differs from the ground truth's.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got {protocol!r}')
    pred_xyz, pred_verts, gt_xyz, gt_verts = check_prediction(
        pred_xyz, pred_verts, gt_xyz, gt_verts)

    n = gt_xyz.shape[0]
    kinds = {'j': gt_xyz, 'pa_j': gt_xyz, 'v': gt_verts, 'pa_v': gt_verts}
    if protocol == 'ho3d':
        kinds['st_j'] = gt_xyz
    dists = {kind: empty_array(gt.shape[:2]) for kind, gt in kinds.items()}
    fs, pa_fs = np.empty((n, len(F_THRESHOLDS))), np.empty((n, len(F_THRESHOLDS)))
    # The F-scores (compiled kernel, no GIL, most of the time) run in a worker thread, block
    # by block, beside the numpy work here, which leaves the second core idle on its own
    with ThreadPoolExecutor(1) as worker:
        jobs = []
        # blocks of samples keep the temporaries small (allocating and first touching
        # full-size (N, 778, 3) temporaries cost ~0.25 s each on a 2-core VM)
        for sl in (slice(i, i + _BLOCK) for i in range(0, n, _BLOCK)):
            px, pv, gx, gv = pred_xyz[sl], pred_verts[sl], gt_xyz[sl], gt_verts[sl]
            jobs.append((fs, sl, worker.submit(f_score, pv, gv, F_THRESHOLDS)))
            pa_verts = procrustes_align(pv, gv)
            jobs.append((pa_fs, sl, worker.submit(f_score, pa_verts, gv, F_THRESHOLDS)))
            dists['j'][sl] = point_distances(px, gx)
            dists['pa_j'][sl] = point_distances(procrustes_align(px, gx), gx)
            dists['v'][sl] = point_distances(pv, gv)
            dists['pa_v'][sl] = point_distances(pa_verts, gv)
            if protocol == 'ho3d':
                dists['st_j'][sl] = point_distances(scale_translation_align(px, gx), gx)
        summaries = {kind: _summary(d) for kind, d in dists.items()}
        for out, sl, job in jobs:
            out[sl] = job.result()

    names = {'j': ('mpjpe', 'auc_j'), 'pa_j': ('pa_mpjpe', 'pa_auc_j'),
             'v': ('mpvpe', 'auc_v'), 'pa_v': ('pa_mpvpe', 'pa_auc_v'),
             'st_j': ('st_mpjpe', 'st_auc_j')}
    result, curves = {}, {'thresholds_mm': PCK_THRESHOLDS * 1000.0}
    for kind, summary in summaries.items():
        err_key, auc_key = names[kind]
        result[err_key], result[auc_key], curves[kind] = summary
    for col, th in enumerate(F_THRESHOLDS):
        tag = round(th * 1000)
        result[f'f{tag}'] = float(fs[:, col].mean())
        result[f'pa_f{tag}'] = float(pa_fs[:, col].mean())

    if return_per_sample:
        per_sample = {names[kind][0]: d.mean(axis=1) * 1000.0 for kind, d in dists.items()}
        for col, th in enumerate(F_THRESHOLDS):
            tag = round(th * 1000)
            per_sample[f'f{tag}'] = fs[:, col]
            per_sample[f'pa_f{tag}'] = pa_fs[:, col]
        result['per_sample'] = per_sample
        result['pck_curves'] = curves
    return result


def official_scores(metrics: Dict[str, Any], protocol: str = 'freihand') -> Dict[str, float]:
    """The official ``scores.txt`` entries, in order, from ``evaluate_hand_mesh``'s dict.

    Mean errors are in cm as the official scripts write them. HO3D calls the aligned joint
    entries ``xyz_procrustes_al_*`` and adds ``xyz_scale_trans_al_*``; its mesh entries keep
    FreiHAND's ``mesh_al_*`` names (checked against shreyashampali/ho3d eval.py).

    Args:
        metrics (Dict[str, Any]): as :func:`evaluate_hand_mesh` returns it for ``protocol``.
        protocol (str): 'freihand' or 'ho3d'.

    Returns:
        Dict[str, float]: an ``OrderedDict``, entry name -> value.

    Raises:
        ValueError: an unknown protocol.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got {protocol!r}')
    xyz_al = 'xyz_procrustes_al' if protocol == 'ho3d' else 'xyz_al'
    entries = [('xyz_mean3d', metrics['mpjpe'] / 10.0), ('xyz_auc3d', metrics['auc_j']),
               (f'{xyz_al}_mean3d', metrics['pa_mpjpe'] / 10.0),
               (f'{xyz_al}_auc3d', metrics['pa_auc_j'])]
    if protocol == 'ho3d':
        entries += [('xyz_scale_trans_al_mean3d', metrics['st_mpjpe'] / 10.0),
                    ('xyz_scale_trans_al_auc3d', metrics['st_auc_j'])]
    entries += [('mesh_mean3d', metrics['mpvpe'] / 10.0), ('mesh_auc3d', metrics['auc_v']),
                ('mesh_al_mean3d', metrics['pa_mpvpe'] / 10.0),
                ('mesh_al_auc3d', metrics['pa_auc_v']),
                ('f_score_5', metrics['f5']), ('f_al_score_5', metrics['pa_f5']),
                ('f_score_15', metrics['f15']), ('f_al_score_15', metrics['pa_f15'])]
    return OrderedDict(entries)
