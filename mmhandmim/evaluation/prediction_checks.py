"""Refuse predictions and ground truth that would be scored meaninglessly without a word.

Three mistakes give plausible-looking but wrong scores: predictions in millimetres (or
centimetres) instead of metres, predictions in the other benchmark's joint order, and a
ground-truth folder of the other benchmark. Each is decided from physics, not from any
generator:

* **units**: a hand spans 0.1-0.3 m (the diagonal of its joints' bounding box; FreiHAND and
  HO3D adults). The median over samples is accepted in [0.03, 1] m (a prediction up to ~3x
  off in scale), refused from 3 on (no hand is 3 m: the file is in smaller units, the factor
  is the power of ten nearest to extent / 0.2 m), and warned about in between or below;
* **joint order**: bone lengths do not depend on the pose, so a prediction in the right order
  has about the ground truth's bone lengths even when its pose is wrong, while read in the
  wrong order its "bones" join unrelated joints (wrist-thumb CMC ~3 cm read as wrist-index
  MCP ~9 cm, ...). Per sample, the bone-length profile (lengths over their sum: units and
  global scale drop out) is compared with the ground truth's as given and reordered from
  the other benchmark's order (L1 distance; measured on stand-in hands of other shapes and
  poses: 0.05 in the right order, 0.38-0.50 in the wrong one; 15 mm joint noise: 0.32). Refused when the other order fits at least twice better in the median
  and in >= 90 % of the samples; warned when it fits >= 1.25x better but not that clearly
  (random points fit both orders alike);
* **benchmark**: HO3D's folder has ``evaluation.txt``/``train.txt`` and
  ``evaluation/<SEQ>/meta``, FreiHAND's ``evaluation_K.json``, ``evaluation_scale.json``,
  ``training_*.json`` or ``evaluation/rgb`` (``evaluation_xyz.json`` and
  ``evaluation_verts.json`` belong to both). HO3D's ground truth is in the OpenGL frame
  (hands at z < 0), FreiHAND's in OpenCV's (z > 0). Refused when the evidence names the
  other benchmark only, warned when folder and frame disagree. Predictions whose root joints
  lie on the other side of the camera than the ground truth's are refused too.

Numpy only (the standalone evaluator does not import torch).
"""
import logging
import os
from typing import Optional, Tuple

import numpy as np

from ..utils.errors import UserInputError
from .functional._array import ArrayLike

HAND_EXTENT_M = (0.1, 0.3)  # joint bounding-box diagonal of real hands
METRIC_EXTENT_M = (0.03, 1.0)  # accepted as metres (a prediction ~3x off in scale)
NOT_METRES_FROM = 3.0  # no hand is 3 m: the file is in smaller units
ORDER_RATIO, ORDER_MAJORITY = 2.0, 0.9
ORDER_WARN_RATIO = 1.25  # below: noise (a random prediction fits both orders alike)
FRAME_MAJORITY = 0.99
_MAX_SAMPLES = 500  # medians over at most this many evenly spaced samples (~50 ms)
NAMES = dict(freihand='FreiHAND', ho3d='HO3D')
#: camera frame of each benchmark's ground truth, and where hands lie in it
FRAME_OF = dict(freihand=('OpenCV', 'z > 0'), ho3d=('OpenGL', 'z < 0'))
HO3D_FILES = ('evaluation.txt', 'train.txt')
FREIHAND_FILES = ('evaluation_K.json', 'evaluation_scale.json', 'evaluation_mano.json',
                  'training_K.json', 'training_xyz.json', 'training_mano.json',
                  'training_verts.json')
_UNIT_NAMES = {100: 'centimetres', 1000: 'millimetres'}


class PredictionCheckError(UserInputError, ValueError):
    """Predictions or ground truth that cannot be scored as they are; the message says what
    was detected and the fix."""


class UnitError(PredictionCheckError):
    """Points that are not in metres."""


class JointOrderError(PredictionCheckError):
    """Predictions in the other benchmark's joint order."""


class ProtocolMismatchError(PredictionCheckError):
    """Ground truth (or predictions) of the other benchmark or camera frame."""


def _warn(message: str) -> None:
    from mmengine.logging import print_log  # light (no torch); only when there is a warning
    print_log(message, logger='current', level=logging.WARNING)


def _subsample(arr):
    n = arr.shape[0]
    return arr if n <= _MAX_SAMPLES else arr[np.linspace(0, n - 1, _MAX_SAMPLES).astype(int)]


def hand_extent(points: ArrayLike) -> float:
    """Median over samples of the diagonal of the points' bounding box.

    Args:
        points (ArrayLike): (N, K, 3) joints or vertices.

    Returns:
        float: the median extent, in the points' units.
    """
    pts = _subsample(np.asarray(points))
    return float(np.median(np.linalg.norm(np.ptp(pts, axis=1), axis=-1)))


def check_units(points: ArrayLike, what: str, where: str) -> float:
    """Refuse points that are clearly not metres; warn when their size is implausible.

    Args:
        points (ArrayLike): (N, K, 3) joints or vertices.
        what (str): their name in the message (e.g. 'xyz_list').
        where (str): the file, for the message.

    Returns:
        float: the median hand extent (metres when accepted).

    Raises:
        UnitError: the median extent is >= 3 (millimetres: ~100-300).
    """
    extent = hand_extent(points)
    lo, hi = HAND_EXTENT_M
    facts = (f'median hand extent {extent:.4g} (bounding-box diagonal of a sample; a hand '
             f'is {lo:g}-{hi:g} m)')
    if extent >= NOT_METRES_FROM:
        factor = int(10 ** max(1, round(np.log10(extent / np.mean(HAND_EXTENT_M)))))
        unit = _UNIT_NAMES.get(factor, f'units of 1/{factor} m')
        raise UnitError(f'{where}: {what} look like {unit}, not metres: {facts}; divide the '
                        f'coordinates by {factor}')
    if extent > METRIC_EXTENT_M[1]:
        _warn(f'{where}: {what} may not be in metres: {facts}; check the units')
    elif extent < METRIC_EXTENT_M[0]:
        _warn(f'{where}: {what} are far smaller than a hand: {facts} (a collapsed '
              'prediction, or units larger than metres?)')
    return extent


def _keypoints():
    """``hand_model.keypoints`` (numpy only; ``hand_model`` loads its torch parts lazily)."""
    from ..hand_model import keypoints
    return keypoints


def _bone_profile(xyz, order):
    """(N, 20) bone lengths of the kinematic tree of ``order`` over their sum."""
    parents = np.asarray(_keypoints().keypoint_parents(order))
    child = np.flatnonzero(parents >= 0)
    lengths = np.linalg.norm(xyz[:, child] - xyz[:, parents[child]], axis=-1)
    return lengths / np.maximum(lengths.sum(1, keepdims=True), 1e-12)


def joint_order_fit(pred_xyz: ArrayLike, gt_xyz: ArrayLike,
                    protocol: str) -> Tuple[np.ndarray, np.ndarray]:
    """Per-sample bone-length residual of the prediction as given and as the other order.

    Args:
        pred_xyz (ArrayLike): (N, 21, 3) predicted joints.
        gt_xyz (ArrayLike): (N, 21, 3) ground truth in the order of ``protocol``.
        protocol (str): 'freihand' or 'ho3d'.

    Returns:
        Tuple[np.ndarray, np.ndarray]: (N,) L1 distances between the bone-length profiles
        (lengths over their sum) of the prediction and of the ground truth: read in
        ``protocol``'s order, and reordered from the other benchmark's order.
    """
    other = 'ho3d' if protocol == 'freihand' else 'freihand'
    pred, gt = np.asarray(pred_xyz, np.float64), np.asarray(gt_xyz, np.float64)
    ref = _bone_profile(gt, protocol)
    as_given = np.abs(_bone_profile(pred, protocol) - ref).sum(1)
    reordered = pred[:, _keypoints().conversion_index(other, protocol)]
    as_other = np.abs(_bone_profile(reordered, protocol) - ref).sum(1)
    return as_given, as_other


def check_joint_order(pred_xyz: ArrayLike, gt_xyz: ArrayLike, protocol: str,
                      where: str) -> None:
    """Refuse predictions that fit the other benchmark's joint order clearly better.

    Args:
        pred_xyz (ArrayLike): (N, 21, 3) predicted joints.
        gt_xyz (ArrayLike): (N, 21, 3) ground truth in the order of ``protocol``.
        protocol (str): 'freihand' or 'ho3d'.
        where (str): the prediction file, for the message.

    Raises:
        JointOrderError: the other order fits >= 2x better in the median and in >= 90 % of
            the samples (>= 1.25x, or in fewer samples: a warning).
    """
    pred, gt = _subsample(np.asarray(pred_xyz)), _subsample(np.asarray(gt_xyz))
    as_given, as_other = joint_order_fit(pred, gt, protocol)
    med_given, med_other = float(np.median(as_given)), float(np.median(as_other))
    better = float(np.mean(as_other < as_given))
    if med_other * ORDER_WARN_RATIO > med_given:
        return
    other = 'ho3d' if protocol == 'freihand' else 'freihand'
    facts = (f"bone lengths fit {NAMES[other]}'s joint order far better than "
             f"{NAMES[protocol]}'s (median bone-length residual {med_other:.3f} vs "
             f'{med_given:.3f}, better in {better:.0%} of the samples)')
    if med_other * ORDER_RATIO <= med_given and better >= ORDER_MAJORITY:
        raise JointOrderError(
            f'{where}: {facts}: the predictions are in {NAMES[other]} order but scored under '
            f'the {NAMES[protocol]} protocol; reorder them to {NAMES[protocol]} order '
            f"(mmhandmim.hand_model.convert_keypoints(xyz, '{other}', '{protocol}')) or pass "
            f'--protocol {other} if the ground truth is {NAMES[other]}')
    _warn(f'{where}: {facts.replace("far better", "better")}; check the joint order')


def _folder_vote(gt_dir):
    """(benchmark or None, the files that say so)."""
    found = dict(ho3d=[f for f in HO3D_FILES if os.path.isfile(os.path.join(gt_dir, f))],
                 freihand=[f for f in FREIHAND_FILES
                           if os.path.isfile(os.path.join(gt_dir, f))])
    ev = os.path.join(gt_dir, 'evaluation')
    if os.path.isdir(os.path.join(ev, 'rgb')):
        found['freihand'].append('evaluation/rgb/')
    if os.path.isdir(ev):
        with os.scandir(ev) as entries:
            seqs = [e.name for e in entries if e.is_dir() and e.name != 'rgb'
                    and os.path.isdir(os.path.join(ev, e.name, 'meta'))]
        if seqs:
            found['ho3d'].append(f'evaluation/{sorted(seqs)[0]}/meta/')
    votes = [k for k, v in found.items() if v]
    return (votes[0] if len(votes) == 1 else None), found


def _frame_vote(xyz):
    """(benchmark whose camera frame the root joints are in, or None; share at z < 0)."""
    behind = float(np.mean(np.asarray(xyz)[:, 0, 2] < 0))
    if behind >= FRAME_MAJORITY:
        return 'ho3d', behind
    if behind <= 1 - FRAME_MAJORITY:
        return 'freihand', behind
    return None, behind


def check_gt_protocol(gt_dir: str, gt_xyz: ArrayLike, protocol: str,
                      option: str = '--protocol') -> None:
    """Refuse a ground truth of the other benchmark (its folder's files, its camera frame).

    Args:
        gt_dir (str): the ground-truth folder.
        gt_xyz (ArrayLike): (N, 21, 3) its joints.
        protocol (str): the protocol asked for.
        option (str): the option that sets it, for the message.

    Raises:
        ProtocolMismatchError: only the other benchmark is named by the evidence (folder and
            frame disagreeing is a warning).
    """
    other = 'ho3d' if protocol == 'freihand' else 'freihand'
    folder, found = _folder_vote(gt_dir)
    frame, behind = _frame_vote(gt_xyz)
    share = behind if frame == 'ho3d' else 1 - behind
    names = found[folder] if folder else []
    evidence = dict(folder=f"it has {', '.join(names[:3])}{', ...' if len(names) > 3 else ''}",
                    frame=f'{share:.0%} of its root joints at {FRAME_OF[frame or other][1]}: '
                          f'the {FRAME_OF[frame or other][0]} camera frame')
    votes = {k: v for k, v in (('folder', folder), ('frame', frame)) if v is not None}
    if other not in votes.values():
        return
    said = '; '.join(evidence[k] for k, v in votes.items() if v == other)
    if protocol in votes.values():
        against = '; '.join(evidence[k] for k, v in votes.items() if v == protocol)
        _warn(f'{gt_dir}: looks like {NAMES[other]} ground truth ({said}) but also like '
              f'{NAMES[protocol]} ({against}); scoring under {option} {protocol}')
        return
    raise ProtocolMismatchError(f'{gt_dir} is {NAMES[other]} ground truth ({said}) but '
                                f'{option} {protocol} was given: pass {option} {other}')


def check_prediction_frame(pred_xyz: ArrayLike, gt_xyz: ArrayLike, protocol: str,
                           where: str) -> None:
    """Refuse predictions on the other side of the camera than the ground truth.

    Args:
        pred_xyz (ArrayLike): (N, 21, 3) predicted joints.
        gt_xyz (ArrayLike): (N, 21, 3) ground-truth joints.
        protocol (str): 'freihand' or 'ho3d'.
        where (str): the prediction file, for the message.

    Raises:
        ProtocolMismatchError: >= 99 % of the ground truth's roots on one side of the camera
            and >= 99 % of the prediction's on the other.
    """
    gt_frame, _ = _frame_vote(gt_xyz)
    pred_frame, behind = _frame_vote(pred_xyz)
    if gt_frame is None or pred_frame is None or gt_frame == pred_frame:
        return
    raise ProtocolMismatchError(
        f'{where}: the predicted root joints are at z {"<" if behind > 0.5 else ">"} 0 in '
        f'{max(behind, 1 - behind):.0%} of the samples, the ground truth\'s on the other side: '
        f'the predictions are in the {FRAME_OF[pred_frame][0]} camera frame, the '
        f'{NAMES[protocol]} ground truth in the {FRAME_OF[gt_frame][0]} one; negate their y '
        'and z')


def check_submission(pred_xyz: ArrayLike, gt_xyz: ArrayLike, protocol: str,
                     gt_dir: Optional[str] = None, where: str = 'pred.json') -> None:
    """All checks that need both files: benchmark of the ground truth, camera frame and joint
    order of the predictions (units are checked when each file is read). Arrays of other
    shapes are left to the evaluation, which names the mismatch.

    Args:
        pred_xyz (ArrayLike): (N, 21, 3) predicted joints.
        gt_xyz (ArrayLike): (N, 21, 3) ground-truth joints.
        protocol (str): 'freihand' or 'ho3d'.
        gt_dir (str, optional): the ground-truth folder (None: its files are not checked).
        where (str): the prediction file, for the messages.

    Raises:
        PredictionCheckError: the first mistake found (see the module doc).
    """
    gt_xyz, pred_xyz = np.asarray(gt_xyz), np.asarray(pred_xyz)
    if gt_xyz.ndim != 3 or gt_xyz.shape[1:] != (21, 3):
        return  # not a hand's 21 joints: the evaluation names the shape
    if gt_dir is not None:
        check_gt_protocol(gt_dir, gt_xyz, protocol)
    if pred_xyz.shape == gt_xyz.shape:  # else the evaluation reports the mismatch
        check_prediction_frame(pred_xyz, gt_xyz, protocol, where)
        check_joint_order(pred_xyz, gt_xyz, protocol, where)
