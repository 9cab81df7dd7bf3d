"""The mesh losses of the paper (eq. 11-12), each a registered module with its own weight.

All take a per-sample validity ``weight`` (B,) (e.g. ``has_mano``/``has_3d``) and average
over valid samples only, so a batch mixing labelled and unlabelled samples is handled.
"""
import torch
from mmpose.registry import MODELS
from torch import nn


def _masked_mean(per_sample, weight):
    weight = weight.to(per_sample.dtype)
    return (per_sample * weight).sum() / weight.sum().clamp(min=1.0)


@MODELS.register_module()
class MANOParamLoss(nn.Module):
    """L_MANO: MSE on the local rotation matrices (robust to axis-angle wrap) and betas."""

    def __init__(self, loss_weight=1.0, pose_weight=1.0, betas_weight=0.1):
        super().__init__()
        self.loss_weight, self.pose_weight, self.betas_weight = (loss_weight, pose_weight,
                                                                 betas_weight)

    def forward(self, pred_rotmat, gt_rotmat, pred_betas, gt_betas, weight):
        pose = ((pred_rotmat - gt_rotmat)**2).flatten(1).mean(1)
        betas = ((pred_betas - gt_betas)**2).mean(1)
        per_sample = self.pose_weight * pose + self.betas_weight * betas
        return self.loss_weight * _masked_mean(per_sample, weight)


@MODELS.register_module()
class RootRelativeL1Loss(nn.Module):
    """L1 between root-relative point sets (3D keypoints: L_kpt-3D; vertices: L_vert).

    ``root_index`` selects the root from ``pred_root``/``gt_root`` keypoints, so vertices
    are made relative to the same wrist joint as the keypoints.
    """

    def __init__(self, loss_weight=1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred, gt, pred_root, gt_root, weight):
        diff = (pred - pred_root[:, None]) - (gt - gt_root[:, None])
        return self.loss_weight * _masked_mean(diff.abs().flatten(1).mean(1), weight)


@MODELS.register_module()
class Keypoint2DReprojectionLoss(nn.Module):
    """L_kpt-2D: L1 between projected 3D keypoints and 2D keypoints, in crop-normalised units
    (pixels / crop size), so the weight does not depend on the input resolution."""

    def __init__(self, loss_weight=1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred_2d, gt_2d, visible, img_size, weight):
        scale = pred_2d.new_tensor(img_size, dtype=pred_2d.dtype)
        err = ((pred_2d - gt_2d) / scale).abs().sum(-1) * visible
        per_sample = err.sum(1) / visible.sum(1).clamp(min=1.0)
        return self.loss_weight * _masked_mean(per_sample, weight)


@MODELS.register_module()
class WeakCameraLoss(nn.Module):
    """The translation term of L_MANO (paper eq. 11 is over theta, beta and t), in the head's
    own camera parameters: L1 on ``log s`` (the relative root depth, since tz = 2f / (s W))
    and on ``(tx, ty)`` (metres in the hand's plane, the units of the 3D losses), against the
    camera that puts the ground-truth root where it is (``translation_to_weak_cam``).

    Without it depth is supervised only through the 2D reprojection loss, which fits a
    mis-posed hand by moving it away: measured on the demo, the predicted scale was 6.3
    against 9.4 from the ground truth and the root 308 mm too far.
    """

    def __init__(self, loss_weight=1.0, depth_weight=1.0):
        super().__init__()
        self.loss_weight, self.depth_weight = loss_weight, depth_weight

    def forward(self, pred_cam, gt_cam, weight):
        log_s = (pred_cam[:, 0].clamp(min=1e-2).log() - gt_cam[:, 0].clamp(min=1e-2).log())
        per_sample = self.depth_weight * log_s.abs() + (pred_cam[:, 1:] - gt_cam[:, 1:]).abs(
        ).sum(-1)
        return self.loss_weight * _masked_mean(per_sample, weight)
