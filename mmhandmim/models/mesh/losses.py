"""The mesh losses of the paper (eq. 11-12), each a registered module with its own weight.

All take a per-sample validity ``weight`` (B,) (e.g. ``has_mano``/``has_3d``) and average
over valid samples only, so a batch mixing labelled and unlabelled samples is handled.
"""
from typing import Sequence, Tuple

import torch
from mmpose.registry import MODELS
from torch import nn


def _masked_mean(per_sample, weight):
    weight = weight.to(per_sample.dtype)
    return (per_sample * weight).sum() / weight.sum().clamp(min=1.0)


@MODELS.register_module()
class MANOParamLoss(nn.Module):
    """L_MANO: MSE on the local rotation matrices (robust to axis-angle wrap) and betas.

    Args:
        loss_weight (float): weight of the loss.
        pose_weight (float): weight of the rotation-matrix term.
        betas_weight (float): weight of the betas term.
    """

    def __init__(self, loss_weight: float = 1.0, pose_weight: float = 1.0,
                 betas_weight: float = 0.1) -> None:
        super().__init__()
        self.loss_weight, self.pose_weight, self.betas_weight = (loss_weight, pose_weight,
                                                                 betas_weight)

    def forward(self, pred_rotmat: torch.Tensor, gt_rotmat: torch.Tensor,
                pred_betas: torch.Tensor, gt_betas: torch.Tensor,
                weight: torch.Tensor) -> torch.Tensor:
        """The weighted loss.

        Args:
            pred_rotmat (torch.Tensor): (B, J, 3, 3) predicted local rotation matrices.
            gt_rotmat (torch.Tensor): (B, J, 3, 3) ground truth.
            pred_betas (torch.Tensor): (B, num_betas) predicted shape.
            gt_betas (torch.Tensor): (B, num_betas) ground truth.
            weight (torch.Tensor): (B,) per-sample validity; only valid samples are averaged.

        Returns:
            torch.Tensor: the 0-d loss.
        """
        pose = ((pred_rotmat - gt_rotmat)**2).flatten(1).mean(1)
        betas = ((pred_betas - gt_betas)**2).mean(1)
        per_sample = self.pose_weight * pose + self.betas_weight * betas
        return self.loss_weight * _masked_mean(per_sample, weight)


@MODELS.register_module()
class RootRelativeL1Loss(nn.Module):
    """L1 between root-relative point sets (3D keypoints: L_kpt-3D; vertices: L_vert).

    The roots are given as ``pred_root``/``gt_root`` (the root keypoints), so vertices are
    made relative to the same wrist joint as the keypoints.

    Args:
        loss_weight (float): weight of the loss.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, gt: torch.Tensor, pred_root: torch.Tensor,
                gt_root: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """The weighted loss, mean absolute error per sample.

        Args:
            pred (torch.Tensor): (B, N, 3) predicted points.
            gt (torch.Tensor): (B, N, 3) ground-truth points.
            pred_root (torch.Tensor): (B, 3) predicted root joint.
            gt_root (torch.Tensor): (B, 3) ground-truth root joint.
            weight (torch.Tensor): (B,) per-sample validity; only valid samples are averaged.

        Returns:
            torch.Tensor: the 0-d loss.
        """
        diff = (pred - pred_root[:, None]) - (gt - gt_root[:, None])
        return self.loss_weight * _masked_mean(diff.abs().flatten(1).mean(1), weight)


@MODELS.register_module()
class Keypoint2DReprojectionLoss(nn.Module):
    """L_kpt-2D: L1 between projected 3D keypoints and 2D keypoints, crop-normalised.

    In crop-normalised units (pixels / crop size), so the weight does not depend on the input
    resolution.

    Args:
        loss_weight (float): weight of the loss.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred_2d: torch.Tensor, gt_2d: torch.Tensor, visible: torch.Tensor,
                img_size: Sequence[int], weight: torch.Tensor) -> torch.Tensor:
        """The weighted loss, averaged over each sample's visible keypoints.

        Args:
            pred_2d (torch.Tensor): (B, K, 2) projected keypoints in crop pixels.
            gt_2d (torch.Tensor): (B, K, 2) ground-truth keypoints in crop pixels.
            visible (torch.Tensor): (B, K) keypoint visibility (0 or 1).
            img_size (Sequence[int]): (W, H) of the crop.
            weight (torch.Tensor): (B,) per-sample validity; only valid samples are averaged.

        Returns:
            torch.Tensor: the 0-d loss.
        """
        scale = pred_2d.new_tensor(img_size, dtype=pred_2d.dtype)
        err = ((pred_2d - gt_2d) / scale).abs().sum(-1) * visible
        per_sample = err.sum(1) / visible.sum(1).clamp(min=1.0)
        return self.loss_weight * _masked_mean(per_sample, weight)


@MODELS.register_module()
class WeakCameraLoss(nn.Module):
    """The translation term of L_MANO, in the head's own camera parameters.

    Paper eq. 11 is over theta, beta and t. L1 on ``log s`` (the relative root depth, since
    tz = 2f / (s W)) and on ``(tx, ty)`` (metres in the hand's plane, the units of the 3D
    losses), against the camera that puts the ground-truth root where it is
    (``translation_to_weak_cam``).

    Without it depth is supervised only through the 2D reprojection loss, which fits a
    mis-posed hand by moving it away: measured on the demo, the predicted scale was 6.3
    against 9.4 from the ground truth and the root 308 mm too far.

    Args:
        loss_weight (float): weight of the loss.
        depth_weight (float): weight of the ``log s`` term against the ``(tx, ty)`` one.
    """

    def __init__(self, loss_weight: float = 1.0, depth_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight, self.depth_weight = loss_weight, depth_weight

    def forward(self, pred_cam: torch.Tensor, gt_cam: torch.Tensor,
                weight: torch.Tensor) -> torch.Tensor:
        """The weighted loss (``s`` clamped to at least 0.01 before the log).

        Args:
            pred_cam (torch.Tensor): (B, 3) predicted ``(s, tx, ty)``.
            gt_cam (torch.Tensor): (B, 3) camera of the ground-truth root.
            weight (torch.Tensor): (B,) per-sample validity; only valid samples are averaged.

        Returns:
            torch.Tensor: the 0-d loss.
        """
        log_s = (pred_cam[:, 0].clamp(min=1e-2).log() - gt_cam[:, 0].clamp(min=1e-2).log())
        per_sample = self.depth_weight * log_s.abs() + (pred_cam[:, 1:] - gt_cam[:, 1:]).abs(
        ).sum(-1)
        return self.loss_weight * _masked_mean(per_sample, weight)


@MODELS.register_module()
class KeypointHeatmapLoss(nn.Module):
    """Auxiliary dense supervision of the head's finest feature map by keypoint heatmaps.

    PyMAF supervises the same map with IUV maps; a hand has no IUV ground truth, its 21
    keypoints stand in: per keypoint, the KL divergence from a Gaussian of ``sigma`` map cells around the
    ground-truth 2D keypoint to the softmax of the predicted logits over the map.

    KL (cross-entropy minus the target's own entropy) is 0 exactly at the target, so the
    logged value says how far the map is from it; keypoints outside the crop are ignored.

    Args:
        loss_weight (float): weight of the loss.
        sigma (float): standard deviation of the target Gaussian, in map cells.
    """

    def __init__(self, loss_weight: float = 1.0, sigma: float = 2.0) -> None:
        super().__init__()
        self.loss_weight, self.sigma = loss_weight, float(sigma)

    def target(self, gt_2d: torch.Tensor, img_size: Tuple[int, int],
               map_hw: Tuple[int, int]) -> torch.Tensor:
        """(B, K, 2) crop pixels -> (B, K, h*w) Gaussian distributions over map cells.

        Args:
            gt_2d (torch.Tensor): (B, K, 2) keypoints in crop pixels.
            img_size (Tuple[int, int]): (W, H) of the crop.
            map_hw (Tuple[int, int]): (h, w) of the map.

        Returns:
            torch.Tensor: (B, K, h*w), each row summing to 1.
        """
        h, w = map_hw
        W, H = img_size
        # distances in map cells; cell j's centre is at j + 0.5 (pixel i spans [i, i + 1))
        cx = torch.arange(w, device=gt_2d.device, dtype=gt_2d.dtype) + 0.5
        cy = torch.arange(h, device=gt_2d.device, dtype=gt_2d.dtype) + 0.5
        gx = (gt_2d[..., 0:1] * (w / W) - cx) ** 2                     # (B, K, w)
        gy = (gt_2d[..., 1:2] * (h / H) - cy) ** 2                     # (B, K, h)
        d2 = gy[..., :, None] + gx[..., None, :]                        # (B, K, h, w)
        return torch.softmax(-d2.flatten(2) / (2 * self.sigma**2), dim=-1)

    def forward(self, logits: torch.Tensor, gt_2d: torch.Tensor, img_size: Tuple[int, int],
                weight: torch.Tensor) -> torch.Tensor:
        """The weighted KL loss, averaged over each sample's keypoints inside the crop.

        Args:
            logits (torch.Tensor): (B, K, h, w) predicted heatmap logits.
            gt_2d (torch.Tensor): (B, K, 2) ground-truth keypoints in crop pixels.
            img_size (Tuple[int, int]): (W, H) of the crop.
            weight (torch.Tensor): (B,) per-sample validity; only valid samples are averaged.

        Returns:
            torch.Tensor: the 0-d loss.
        """
        t = self.target(gt_2d.to(logits.dtype), img_size, logits.shape[-2:])
        log_p = torch.log_softmax(logits.flatten(2), dim=-1)
        kl = (t * (t.clamp(min=1e-30).log() - log_p)).sum(-1)          # (B, K)
        W, H = img_size
        inside = ((gt_2d[..., 0] >= 0) & (gt_2d[..., 0] < W) & (gt_2d[..., 1] >= 0)
                  & (gt_2d[..., 1] < H)).to(kl.dtype)
        per_sample = (kl * inside).sum(1) / inside.sum(1).clamp(min=1.0)
        return self.loss_weight * _masked_mean(per_sample, weight)
