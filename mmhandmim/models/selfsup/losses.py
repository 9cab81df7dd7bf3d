"""Teacher-student distillation losses of HandMIM: L_pose (eq. 6) and L_patch (eq. 7).

The module owns the state the losses need (DINO practice): the teacher centres of class and
patch outputs and the temperatures. All math is float32, whatever autocast produced.
"""
from typing import Optional, Sequence

import torch
import torch.distributed as dist
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import nn


def _all_reduce_sum(tensor):
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(tensor)
    return tensor


@torch.no_grad()
def update_batch_mean_ema_(center: torch.Tensor, values: torch.Tensor,
                           momentum: float) -> None:
    """EMA of a batch mean, in place: ``center <- momentum * center + (1 - momentum) * mean``.

    The mean is taken over all processes (sum and count all-reduced: exact with uneven
    batches).

    Args:
        center (torch.Tensor): ``(1, D)``, updated in place.
        values (torch.Tensor): ``(N, D)``.
        momentum (float): the decay of ``center``.
    """
    values = values.float()
    stats = _all_reduce_sum(torch.cat([values.sum(0), values.new_tensor([values.shape[0]])]))
    center.mul_(momentum).add_((stats[:-1] / stats[-1]).unsqueeze(0), alpha=1 - momentum)


@MODELS.register_module()
class HandMIMDistillLoss(nn.Module):
    """Cross-entropy between centred, sharpened teacher outputs and student outputs.

    Args:
        out_dim (int): prototypes of class outputs.
        patch_out_dim (int, optional): prototypes of patch outputs; None: ``out_dim``.
        student_temp (float): 0.1.
        teacher_temp (float): start value of the class-output temperature;
            ``TeacherTempHook`` sets it during training (warm-up 0.04 -> 0.07).
        teacher_patch_temp (float): the same for the patch outputs.
        center_momentum (float): 0.9; one centre per output kind, averaged over processes.
    """

    def __init__(self, out_dim: int, patch_out_dim: Optional[int] = None,
                 student_temp: float = 0.1, teacher_temp: float = 0.04,
                 teacher_patch_temp: float = 0.04, center_momentum: float = 0.9) -> None:
        super().__init__()
        self.student_temp = student_temp
        self.teacher_temp, self.teacher_patch_temp = teacher_temp, teacher_patch_temp
        self.center_momentum = center_momentum
        self.register_buffer('center', torch.zeros(1, out_dim))
        self.register_buffer('patch_center', torch.zeros(1, patch_out_dim or out_dim))

    def teacher_probs(self, logits: torch.Tensor, patch: bool = False) -> torch.Tensor:
        """Centred, sharpened teacher probabilities (float32).

        Args:
            logits (torch.Tensor): teacher logits ``(..., K)``.
            patch (bool): patch outputs (patch centre and temperature).

        Returns:
            torch.Tensor: ``softmax((logits - centre) / teacher temperature)``, ``(..., K)``.
        """
        center, temp = ((self.patch_center, self.teacher_patch_temp) if patch else
                        (self.center, self.teacher_temp))
        return F.softmax((logits.float() - center) / temp, dim=-1)

    def _cross_entropy(self, teacher_probs, student_logits):
        log_p = F.log_softmax(student_logits.float() / self.student_temp, dim=-1)
        return -(teacher_probs * log_p).sum(-1)

    def cls_loss(self, student_logits: Sequence[torch.Tensor],
                 teacher_probs: Sequence[torch.Tensor]) -> torch.Tensor:
        """Cross-view loss (eq. 6), averaged over all pairs of different views.

        Args:
            student_logits (Sequence[torch.Tensor]): ``(B, K)`` per student view (global
                views first, then local views, as in iBOT).
            teacher_probs (Sequence[torch.Tensor]): ``(B, K)`` per global view.

        Returns:
            torch.Tensor: the 0-d loss.
        """
        total, terms = 0., 0
        for q, t in enumerate(teacher_probs):
            for v, s in enumerate(student_logits):
                if v != q:
                    total = total + self._cross_entropy(t, s).mean()
                    terms += 1
        return total / terms

    def patch_loss(self, student_logits: torch.Tensor, teacher_probs: torch.Tensor,
                   image_index: torch.Tensor, num_images: int) -> torch.Tensor:
        """Masked-patch loss (eq. 7): mean over each image's masked patches, then over images.

        Unmasked images count as 0, as in iBOT.

        Args:
            student_logits (torch.Tensor): ``(M, K)`` at the M masked patches of all views of
                the batch.
            teacher_probs (torch.Tensor): ``(M, K)`` at the same patches.
            image_index (torch.Tensor): ``(M,)`` long, which of the ``num_images`` (view,
                sample) images each masked patch belongs to.
            num_images (int): number of (view, sample) images.

        Returns:
            torch.Tensor: the 0-d loss.
        """
        ce = self._cross_entropy(teacher_probs, student_logits)
        per_image = ce.new_zeros(num_images).index_add_(0, image_index, ce)
        count = torch.bincount(image_index, minlength=num_images).clamp(min=1)
        return (per_image / count).mean()

    @torch.no_grad()
    def update_center(self, teacher_cls: Optional[torch.Tensor] = None,
                      teacher_patch: Optional[torch.Tensor] = None) -> None:
        """EMA of the batch mean of the teacher outputs, all-reduced across processes.

        Args:
            teacher_cls (torch.Tensor, optional): ``(N, K)`` class-token logits; None: the
                class centre is kept.
            teacher_patch (torch.Tensor, optional): ``(..., K)`` logits of all patches, masked
                or not; None: the patch centre is kept.
        """
        for name, logits in (('center', teacher_cls), ('patch_center', teacher_patch)):
            if logits is None:
                continue
            update_batch_mean_ema_(getattr(self, name), logits.flatten(0, -2),
                                   self.center_momentum)
