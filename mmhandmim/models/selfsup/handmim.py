"""HandMIM: the pre-training algorithm (paper section 2.2-2.4), a short orchestrator.

Student: ``backbone`` (masked ``HandMIMViT``) + ``neck`` (projection head) + ``decoder``
(pixel decoder). Teacher: ``teacher.backbone`` + ``teacher.neck``, an EMA copy without
gradients, always in eval mode (so drop-path is off), fed the unmasked views. ``head`` is the
distillation loss with the teacher centres. Checkpoint keys: ``backbone.*`` (student),
``teacher.backbone.*`` (teacher, the weights fine-tuned downstream), ``neck.*``,
``teacher.neck.*``, ``head.center``/``head.patch_center``, ``pose_alignment.center`` (the
running bottleneck centre), ``decoder.*``.

The teacher is updated by ``TeacherEMAHook`` (``update_teacher``), its temperature set by
``TeacherTempHook`` (``set_teacher_temp``), and the prototypes frozen by
``FreezeLastLayerHook`` (``last_layer_parameters``).
"""
import copy

import torch
import torch.nn.functional as F
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from torch import nn

from .alignment_diagnostics import in_batch_image_share
from .pixel_decoder import masked_l1_loss
from .pose_alignment import PoseAlignment


@MODELS.register_module()
class HandMIM(BaseSelfSupervisor):
    """Args:
        backbone (dict): a ``HandMIMViT``. neck (dict): a ``HandMIMProjectionHead``.
        head (dict): a ``HandMIMDistillLoss``. decoder (dict, optional): a
            ``PyramidPixelDecoder``; needed when the ``recon`` weight is not 0.
        use_pose_alignment (bool): align class-token bottlenecks to the source frame before
            L_pose (eq. 4). Off: the plain DINO/iBOT cross-view loss, logged as ``loss_cls``.
        pose_alignment (dict): arguments of ``PoseAlignment`` (``mode``, ``center_momentum``):
            how eq. 4 reads the pseudo points. Default: centred points and a running
            bottleneck centre; ``dict(mode='eq4', center_momentum=None)`` is the paper's literal
            reading (degenerate, see ``pose_alignment``).
        loss_weights (dict): ``pose``, ``patch``, ``recon``. A term weighted 0 is not computed
            and not returned; its modules (decoder) are not built.
    """

    def __init__(self, backbone, neck, head, decoder=None, use_pose_alignment=True,
                 pose_alignment=dict(mode='centred', center_momentum=0.9),
                 loss_weights=dict(pose=1.0, patch=1.0, recon=1.0),
                 pretrained=None, data_preprocessor=None, init_cfg=None):
        super().__init__(backbone=backbone, neck=neck, head=head, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        unknown = set(loss_weights) - {'pose', 'patch', 'recon'}
        if unknown:
            raise ValueError(f'unknown loss_weights keys {sorted(unknown)}')
        self.loss_weights = {k: float(loss_weights.get(k, 0.)) for k in ('pose', 'patch', 'recon')}
        if not any(self.loss_weights.values()):
            raise ValueError('all HandMIM loss weights are 0')
        self.use_pose_alignment = use_pose_alignment
        self.pose_alignment = (PoseAlignment(self.neck.bottleneck_dim, **pose_alignment)
                               if use_pose_alignment else None)
        self.last_image_share = None  # of the last training batch (see PoseCollapseMonitorHook)
        self.patch_size = self.backbone.patch_embed.projection.stride[0]
        self.decoder = None
        if self.loss_weights['recon']:
            if decoder is None:
                raise ValueError('loss_weights.recon > 0 needs a decoder config')
            self.decoder = decoder if isinstance(decoder, nn.Module) else MODELS.build(decoder)
            if 2**self.decoder.num_levels != self.patch_size:
                raise ValueError(f'{self.decoder.num_levels} stride-2 decoder stages cannot '
                                 f'undo patch size {self.patch_size}')
            if self.decoder.num_levels != len(self.backbone.level_indices):
                raise ValueError(f'decoder has {self.decoder.num_levels} stages but the '
                                 f'backbone gives {len(self.backbone.level_indices)} levels')
        self.teacher = nn.ModuleDict(
            dict(backbone=copy.deepcopy(self.backbone), neck=copy.deepcopy(self.neck)))
        self.teacher.requires_grad_(False)

    # --- teacher --------------------------------------------------------------------------
    def _student_teacher_pairs(self):
        return [(self.backbone, self.teacher.backbone), (self.neck, self.teacher.neck)]

    def init_weights(self):
        super().init_weights()
        # the teacher starts as the (initialised) student; resuming loads both afterwards
        for student, teacher in self._student_teacher_pairs():
            teacher.load_state_dict(student.state_dict())

    def train(self, mode=True):
        super().train(mode)
        self.teacher.eval()
        return self

    @torch.no_grad()
    def update_teacher(self, momentum):
        """``teacher = momentum * teacher + (1 - momentum) * student`` (DINO/iBOT convention:
        ``momentum`` is the decay, 0.996 -> 1). Buffers are copied."""
        for student, teacher in self._student_teacher_pairs():
            t_params = list(teacher.parameters())
            s_params = [p.detach() for p in student.parameters()]
            torch._foreach_mul_(t_params, momentum)
            torch._foreach_add_(t_params, s_params, alpha=1 - momentum)
            for t_buf, s_buf in zip(teacher.buffers(), student.buffers()):
                t_buf.copy_(s_buf)

    def set_teacher_temp(self, temp, patch_temp=None):
        self.head.teacher_temp = temp
        self.head.teacher_patch_temp = temp if patch_temp is None else patch_temp

    def last_layer_parameters(self):
        return self.neck.last_layer_parameters()

    # --- forward ----------------------------------------------------------------------------
    def reconstruct(self, img, mask):
        """Student reconstruction ``(B, 3, H, W)`` of normalised ``img`` under patch ``mask``."""
        _, _, levels = self.backbone.forward_features(img, mask)
        grid = (img.shape[-2] // self.patch_size, img.shape[-1] // self.patch_size)
        return self.decoder(levels, grid)

    def _cls_logits(self, neck, cls, geometry):
        """Prototype logits of class tokens, their bottlenecks and the aligned ones."""
        z = aligned = neck.bottleneck(cls)
        if self.use_pose_alignment:
            aligned = self.pose_alignment(z, geometry)
        return neck.prototypes(aligned), z, aligned

    def loss(self, inputs, data_samples):
        """``inputs``: list of views ``(B, 3, H, W)``, global views first (as many as the data
        samples' masks), then local views; data samples carry ``mask (V_g, h, w)`` and
        ``view_geometry (V, 2, 3)``."""
        masks = torch.stack([ds.mask for ds in data_samples], 1).bool()  # (V_g, B, h, w)
        geometry = torch.stack([ds.view_geometry for ds in data_samples], 1)  # (V, B, 2, 3)
        n_global = masks.shape[0]
        global_imgs, masks = torch.cat(inputs[:n_global]), masks.flatten(0, 1)
        w = self.loss_weights

        s_cls, s_patch, s_levels = self.backbone.forward_features(global_imgs, masks)
        with torch.no_grad():
            t_cls, t_patch, _ = self.teacher.backbone.forward_features(global_imgs)

        losses, t_cls_logits, t_patch_logits = {}, None, None
        if w['pose']:
            if len(inputs) > n_global:  # local views: student only, never masked (iBOT)
                s_cls = torch.cat([s_cls, self.backbone.forward_features(
                    torch.cat(inputs[n_global:]))[0]])
            s_logits = self._cls_logits(self.neck, s_cls, geometry.flatten(0, 1))[0]
            with torch.no_grad():
                t_cls_logits, t_z, t_aligned = self._cls_logits(
                    self.teacher.neck, t_cls, geometry[:n_global].flatten(0, 1))
                if self.training:  # for PoseCollapseMonitorHook: image- or geometry-driven?
                    t_aligned = F.normalize(t_aligned.float(), dim=-1)
                    self.last_image_share = in_batch_image_share(
                        t_aligned.unflatten(0, (n_global, -1)).transpose(0, 1))
            t_probs = self.head.teacher_probs(t_cls_logits)
            loss = self.head.cls_loss(s_logits.chunk(len(inputs)), t_probs.chunk(n_global))
            losses['loss_pose' if self.use_pose_alignment else 'loss_cls'] = w['pose'] * loss
        if w['patch']:
            image_idx, patch_idx = masks.flatten(1).nonzero(as_tuple=True)
            # the student head runs on masked patches only; the teacher on all (for the centre)
            s_logits = self.neck(s_patch[image_idx, patch_idx], patch=True)
            with torch.no_grad():
                t_patch_logits = self.teacher.neck(t_patch, patch=True)
            t_probs = self.head.teacher_probs(t_patch_logits[image_idx, patch_idx], patch=True)
            losses['loss_patch'] = w['patch'] * self.head.patch_loss(
                s_logits, t_probs, image_idx, masks.shape[0])
        if w['recon']:
            pred = self.decoder(s_levels, masks.shape[-2:])
            losses['loss_recon'] = w['recon'] * masked_l1_loss(pred, global_imgs, masks,
                                                               self.patch_size)
        if self.training:
            self.head.update_center(t_cls_logits, t_patch_logits)
            if w['pose'] and self.use_pose_alignment:
                self.pose_alignment.update_center(t_z)
        return losses
