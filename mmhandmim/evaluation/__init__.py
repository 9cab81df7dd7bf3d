"""FreiHAND / HO3D evaluation: metric functions and submission files.

Deliberately free of mmengine/mmpose imports so the standalone evaluator stays light; the
mmpose-registered metric lives in ``mmhandmim.evaluation.metrics``.
"""
from .functional import (F_THRESHOLDS, PCK_THRESHOLDS, PROTOCOLS, auc, check_points,
                         check_prediction, evaluate_hand_mesh, f_score, mean_error,
                         official_scores, pck_curve, point_distances, procrustes_align,
                         scale_translation_align)
from .prediction_checks import PredictionCheckError, check_submission, check_units
from .submission import SubmissionError, load_gt, load_prediction, write_submission

__all__ = [
    'F_THRESHOLDS', 'PCK_THRESHOLDS', 'PROTOCOLS', 'auc', 'check_points', 'check_prediction',
    'evaluate_hand_mesh', 'f_score', 'mean_error', 'official_scores', 'pck_curve',
    'point_distances', 'procrustes_align', 'scale_translation_align', 'SubmissionError',
    'load_gt', 'load_prediction', 'write_submission', 'PredictionCheckError',
    'check_submission', 'check_units'
]
