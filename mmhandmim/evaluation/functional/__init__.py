"""Vectorised FreiHAND / HO3D metrics (numpy float64; torch tensors are accepted)."""
from .alignment import procrustes_align, scale_translation_align
from .point_errors import PCK_THRESHOLDS, auc, mean_error, pck_curve, point_distances
from .fscore import F_THRESHOLDS, f_score
from .hand_mesh import PROTOCOLS, evaluate_hand_mesh, official_scores
from .validation import check_points, check_prediction

__all__ = [
    'procrustes_align', 'scale_translation_align', 'PCK_THRESHOLDS', 'auc', 'mean_error',
    'pck_curve', 'point_distances', 'F_THRESHOLDS', 'f_score', 'PROTOCOLS',
    'evaluate_hand_mesh', 'official_scores', 'check_points', 'check_prediction'
]
