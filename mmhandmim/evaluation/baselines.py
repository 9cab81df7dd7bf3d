"""Trivial baselines every trained mesh result must beat, scored exactly like the model.

Each baseline is a *prediction* for every evaluation sample, scored by the same
``evaluate_hand_mesh`` call as the model, on the same ground truth, in the benchmark's joint
order and camera frame:

* ``constant``: one hand for every image: the hand model's zero pose (48 zeros, so MANO's
  ``hands_mean`` fingers with ``flat_hand_mean=False``, the flat hand with True), zero betas,
  identity global orientation;
* ``mean_pose``: the training set's mean MANO parameters as
  ``tools/misc/compute_mean_mano_params.py`` writes them (per-joint chordal-mean rotations,
  the global orientation included, and mean betas), decoded by the same hand model.

Both are one hand in the model's camera frame (OpenCV; converted like the model's predictions
for HO3D). For the unaligned metrics its root joint (index 0 in both joint orders) is placed
on each sample's ground-truth root joint: only the Procrustes-aligned errors judge the pose,
the unaligned ones mostly measure the global orientation.

Importing this module needs numpy only (the standalone evaluator stays light); torch and the
hand model are imported when a hand is built.
"""
import os
import pickle
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np

from ..hand_model.mean_params import read_mean_params
from ..utils.errors import ConfigError
from .functional import evaluate_hand_mesh
from .functional._array import ArrayLike
from .protocol_space import check_protocol, to_benchmark

#: baseline names, in table order
BASELINE_NAMES = ('constant', 'mean_pose')
BASELINE_LABELS = {'constant': 'constant hand (zero pose, root at GT root)',
                   'mean_pose': 'training-set mean pose (root at GT root)'}
PLACEMENT_NOTE = ('a baseline is one hand for every image, its root joint placed at the GT '
                  'root joint; the placement only affects MPJPE and MPVPE')
#: comparison table columns: (evaluate_hand_mesh key, header); all in mm
TABLE_COLUMNS = (('pa_mpjpe', 'PA-MPJPE'), ('pa_mpvpe', 'PA-MPVPE'), ('mpjpe', 'MPJPE'),
                 ('mpvpe', 'MPVPE'))
ROOT = 0  # the wrist, in FreiHAND and HO3D order
NUM_JOINTS = 16

Hand = Tuple[np.ndarray, np.ndarray]  # (21, 3) keypoints in FreiHAND order, (V, 3) vertices


def build_baseline_mano(mano: Union[Mapping, Any], protocol: str = 'freihand',
                        where: str = 'baselines.mano') -> 'torch.nn.Module':
    """The hand model the baselines are decoded with: a ``MANOLayer`` config dict or layer.

    A dict may omit ``flat_hand_mean`` and ``fingertip_ids``: they default to the benchmark's
    conventions (FreiHAND: False and the stand-in's or FreiHAND's tips; HO3D: True and HO3D's
    tips, as HO3D's own MANO code). ``keypoint_order`` is always 'freihand': the predictions
    are converted to the benchmark's order as the model's are.

    Args:
        mano (Mapping or torch.nn.Module): a ``MANOLayer`` config dict (another registered
            hand model ``type`` is built in the mmpose scope), or a layer, returned as is.
        protocol (str): 'freihand' or 'ho3d' (the defaults above).
        where (str): where ``mano`` comes from, for the messages.

    Returns:
        torch.nn.Module: the hand model layer, with ``keypoint_order='freihand'``.

    Raises:
        ValueError: one line naming ``where`` (unknown arguments, missing model file, a layer
            with another keypoint order).
    """
    check_protocol(protocol)
    from torch import nn
    if isinstance(mano, nn.Module):
        if getattr(mano, 'keypoint_order', None) != 'freihand':
            raise ConfigError(f"{where}: the layer must have keypoint_order='freihand', got "
                             f"{getattr(mano, 'keypoint_order', None)!r}")
        return mano
    if not isinstance(mano, Mapping):
        raise ConfigError(f'{where}: expected a MANOLayer config dict (e.g. '
                         f"dict(type='MANOLayer', model_path='standin')), got {mano!r}")
    cfg = dict(mano)
    cfg['keypoint_order'] = 'freihand'  # forced: the conversion below starts from it
    cfg.setdefault('flat_hand_mean', protocol == 'ho3d')
    if protocol == 'ho3d' and cfg.get('model_path') != 'standin':
        cfg.setdefault('fingertip_ids', 'ho3d')
    kind = cfg.pop('type', 'MANOLayer')
    try:
        if kind == 'MANOLayer':
            from ..hand_model.mano_layer import MANOLayer
            return MANOLayer(**cfg)
        # another registered hand model layer (mmpose scope, where MANOLayer lives)
        from mmengine.registry import DefaultScope
        from mmpose.registry import MODELS
        with DefaultScope.overwrite_default_scope('mmpose'):
            return MODELS.build(dict(type=kind, **cfg))
    except (TypeError, ValueError, KeyError, OSError, pickle.UnpicklingError) as exc:
        raise ConfigError(f'{where}: {_one_line(exc)}') from None


def load_mean_params(source: Union[str, os.PathLike, Mapping],
                     num_betas: int = 10) -> Dict[str, np.ndarray]:
    """Read the training set's mean MANO parameters as float64 arrays.

    Args:
        source (str or os.PathLike or Mapping): the .npz that
            ``tools/misc/compute_mean_mano_params.py`` writes (or a mapping with those
            arrays).
        num_betas (int): the hand model's number of shape parameters.

    Returns:
        Dict[str, np.ndarray]: ``pose6d`` (16, 6) and ``betas`` (num_betas,).

    Raises:
        ValueError: one line naming the file and what was expected (the head's checks:
            ``hand_model.mean_params.read_mean_params``).
    """
    return read_mean_params(source, num_betas, keys=('pose6d', 'betas'))


def _decode(mano, pose, betas=None) -> Hand:
    """One hand through the layer: (21, 3) FreiHAND-order keypoints and (V, 3) vertices."""
    import torch
    with torch.no_grad():
        out = mano(pose, betas)
    return (out['keypoints'][0].double().cpu().numpy(),
            out['vertices'][0].double().cpu().numpy())


def constant_hand(mano: 'torch.nn.Module') -> Hand:
    """The hand model's zero pose with zero betas, as the head's fallback start.

    The zero pose is 48 zeros, ``hands_mean`` applied as the layer does:
    ``mano(mano.pose_to_rotmat(zeros))``.

    Args:
        mano (torch.nn.Module): the hand model layer (:func:`build_baseline_mano`).

    Returns:
        Hand: (21, 3) FreiHAND-order keypoints and (V, 3) vertices, float64.
    """
    import torch
    zero = torch.zeros(1, 3 * NUM_JOINTS, dtype=mano.v_template.dtype,
                       device=mano.v_template.device)
    return _decode(mano, mano.pose_to_rotmat(zero))


def mean_pose_hand(mano: 'torch.nn.Module', mean_params: Union[str, os.PathLike, Mapping]
                   ) -> Hand:
    """The mean parameters decoded as the head decodes its parameters.

    That is ``mano(rot6d_to_matrix(pose6d), betas)``.

    Args:
        mano (torch.nn.Module): the hand model layer (:func:`build_baseline_mano`).
        mean_params (str or os.PathLike or Mapping): a file or ``load_mean_params``' dict.

    Returns:
        Hand: (21, 3) FreiHAND-order keypoints and (V, 3) vertices, float64.

    Raises:
        ValueError: the mean parameters cannot be read (see :func:`load_mean_params`).
    """
    import torch

    from ..structures import rot6d_to_matrix
    params = load_mean_params(mean_params, mano.num_betas)
    like = dict(dtype=mano.v_template.dtype, device=mano.v_template.device)
    rotmat = rot6d_to_matrix(torch.as_tensor(params['pose6d'], **like))[None]
    return _decode(mano, rotmat, torch.as_tensor(params['betas'], **like)[None])


def baseline_hands(mano: 'torch.nn.Module',
                   mean_params: Union[None, str, os.PathLike, Mapping] = None
                   ) -> Dict[str, Hand]:
    """The baselines' hands: the constant hand, and the mean pose when ``mean_params`` is given.

    The layer runs once per baseline, whatever the sample count.

    Args:
        mano (torch.nn.Module): the hand model layer (:func:`build_baseline_mano`).
        mean_params (str or os.PathLike or Mapping, optional): see :func:`mean_pose_hand`.

    Returns:
        Dict[str, Hand]: ``{name: (keypoints, vertices)}``.
    """
    hands = {'constant': constant_hand(mano)}
    if mean_params is not None:
        hands['mean_pose'] = mean_pose_hand(mano, mean_params)
    return hands


def place_hand(hand: Hand, gt_xyz: ArrayLike, protocol: str = 'freihand') -> Hand:
    """One hand as a prediction for every sample of ``gt_xyz``.

    The hand is converted like the model's predictions (``HandMeshMetric``), then translated
    so that its root joint lies on each sample's GT root joint.

    Args:
        hand (Hand): (21, 3) FreiHAND-order keypoints and (V, 3) vertices, OpenCV frame.
        gt_xyz (ArrayLike): (N, 21, 3) ground-truth joints, the benchmark's order and frame.
        protocol (str): 'freihand' or 'ho3d'.

    Returns:
        Hand: (N, 21, 3) keypoints and (N, V, 3) vertices, float64.
    """
    xyz, verts = to_benchmark(np.asarray(hand[0], np.float64), np.asarray(hand[1], np.float64),
                              protocol)
    gt_root = np.asarray(gt_xyz, np.float64)[:, ROOT:ROOT + 1]  # (N, 1, 3)
    shift = gt_root - xyz[ROOT]
    return xyz[None] + shift, verts[None] + shift


def evaluate_baselines(hands: Mapping[str, Hand], gt_xyz: ArrayLike, gt_verts: ArrayLike,
                       protocol: str = 'freihand') -> Dict[str, Dict[str, float]]:
    """``{name: evaluate_hand_mesh scores}`` of each hand placed on every sample.

    Args:
        hands (Mapping[str, Hand]): as :func:`baseline_hands` returns them.
        gt_xyz (ArrayLike): (N, 21, 3) ground-truth joints, the benchmark's order and frame.
        gt_verts (ArrayLike): (N, V, 3) ground-truth vertices.
        protocol (str): 'freihand' or 'ho3d'.

    Returns:
        Dict[str, Dict[str, float]]: the scores of each baseline.

    Raises:
        ValueError: the ground truth is malformed, or its vertex count differs from the
            baseline hand model's (named in the message).
    """
    gt_verts = np.asarray(gt_verts)
    out = {}
    for name, hand in hands.items():
        if gt_verts.ndim == 3 and np.shape(hand[1])[0] != gt_verts.shape[1]:
            raise ValueError(f'baseline hand model has {np.shape(hand[1])[0]} vertices, the '
                             f'ground truth {gt_verts.shape[1]}: use the hand model the '
                             'ground truth was made with')
        pred_xyz, pred_verts = place_hand(hand, gt_xyz, protocol)
        out[name] = evaluate_hand_mesh(pred_xyz, pred_verts, gt_xyz, gt_verts, protocol)
    return out


def model_over_constant(model_scores: Mapping, baseline_scores: Mapping) -> Optional[float]:
    """The model's PA-MPJPE as a fraction of the constant hand's (< 1: it beats it).

    Args:
        model_scores (Mapping): the model's (or any) ``evaluate_hand_mesh`` scores.
        baseline_scores (Mapping): :func:`evaluate_baselines`' result.

    Returns:
        float, optional: the ratio; None without a constant-hand PA-MPJPE (or a zero one) or
        a model PA-MPJPE.
    """
    const = baseline_scores.get('constant', {}).get('pa_mpjpe')
    if not const or model_scores is None or 'pa_mpjpe' not in model_scores:
        return None
    return float(model_scores['pa_mpjpe']) / float(const)


def format_comparison(model_scores: Optional[Mapping],
                      baseline_scores: Mapping[str, Mapping]) -> str:
    """A comparison table of the model and the baselines.

    Rows: the model (if given) and each baseline; columns: PA-MPJPE, PA-MPVPE, MPJPE,
    MPVPE (mm) and PA-MPJPE relative to the constant hand's.

    Args:
        model_scores (Mapping, optional): the model's ``evaluate_hand_mesh`` scores.
        baseline_scores (Mapping[str, Mapping]): :func:`evaluate_baselines`' result.

    Returns:
        str: the table, with a closing note on units and the placement.
    """
    rows = ([('model', model_scores)] if model_scores is not None else [])
    rows += [(BASELINE_LABELS.get(name, name), s) for name, s in baseline_scores.items()]
    width = max(len(label) for label, _ in rows)
    ratio_head = 'PA-MPJPE / constant'
    lines = [' ' * width + ''.join(f'{h:>10}' for _, h in TABLE_COLUMNS) + f'  {ratio_head}']
    for label, scores in rows:
        cells = ''.join(f'{scores[k]:>10.2f}' for k, _ in TABLE_COLUMNS)
        ratio = model_over_constant(scores, baseline_scores)
        lines.append(f'{label:<{width}}{cells}  ' +
                     (f'{ratio:>{len(ratio_head)}.3f}' if ratio is not None else ''))
    lines.append(f'(errors in mm; {PLACEMENT_NOTE})')
    return os.linesep.join(lines)


def _one_line(exc):
    # KeyError's str() quotes its message
    return ' '.join(str(exc.args[0] if isinstance(exc, KeyError) and exc.args else exc).split())
