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


@MODELS.register_module()
class KeypointHeatmapLoss(nn.Module):
    """Auxiliary dense supervision of the head's finest feature map (PyMAF supervises the
    same map with IUV maps; a hand has no IUV ground truth, its 21 keypoints stand in):
    per keypoint, the KL divergence from a Gaussian of ``sigma`` map cells around the
    ground-truth 2D keypoint to the softmax of the predicted logits over the map.

    KL (cross-entropy minus the target's own entropy) is 0 exactly at the target, so the
    logged value says how far the map is from it; keypoints outside the crop are ignored.
    """

    def __init__(self, loss_weight=1.0, sigma=2.0):
        super().__init__()
        self.loss_weight, self.sigma = loss_weight, float(sigma)

    def target(self, gt_2d, img_size, map_hw):
        """(B, K, 2) crop pixels -> (B, K, h*w) Gaussian distributions over map cells."""
        h, w = map_hw
        W, H = img_size
        # distances in map cells; cell j's centre is at j + 0.5 (pixel i spans [i, i + 1))
        cx = torch.arange(w, device=gt_2d.device, dtype=gt_2d.dtype) + 0.5
        cy = torch.arange(h, device=gt_2d.device, dtype=gt_2d.dtype) + 0.5
        gx = (gt_2d[..., 0:1] * (w / W) - cx) ** 2                     # (B, K, w)
        gy = (gt_2d[..., 1:2] * (h / H) - cy) ** 2                     # (B, K, h)
        d2 = gy[..., :, None] + gx[..., None, :]                        # (B, K, h, w)
        return torch.softmax(-d2.flatten(2) / (2 * self.sigma**2), dim=-1)

    def forward(self, logits, gt_2d, img_size, weight):
        t = self.target(gt_2d.to(logits.dtype), img_size, logits.shape[-2:])
        log_p = torch.log_softmax(logits.flatten(2), dim=-1)
        kl = (t * (t.clamp(min=1e-30).log() - log_p)).sum(-1)          # (B, K)
        W, H = img_size
        inside = ((gt_2d[..., 0] >= 0) & (gt_2d[..., 0] < W) & (gt_2d[..., 1] >= 0)
                  & (gt_2d[..., 1] < H)).to(kl.dtype)
        per_sample = (kl * inside).sum(1) / inside.sum(1).clamp(min=1.0)
        return self.loss_weight * _masked_mean(per_sample, weight)
