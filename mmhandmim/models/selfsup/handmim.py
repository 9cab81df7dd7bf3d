"""HandMIM: the pre-training algorithm (paper section 2.2-2.4), a short orchestrator.

Student: ``backbone`` (masked ``HandMIMViT``) + ``projection_head`` + ``decoder`` (pixel
decoder). Teacher: ``teacher.backbone`` + ``teacher.projection_head``, an EMA copy without
gradients, always in eval mode (so drop-path is off), fed the unmasked views.
``distill_loss`` is the distillation loss with the teacher centres. Checkpoint keys:
``backbone.*`` (student), ``teacher.backbone.*`` (teacher, the weights fine-tuned downstream),
``projection_head.*``, ``teacher.projection_head.*``,
``distill_loss.center``/``distill_loss.patch_center``, ``pose_alignment.center`` (the running
bottleneck centre), ``decoder.*``.

The teacher is updated by ``TeacherEMAHook`` (``update_teacher``), its temperature set by
``TeacherTempHook`` (``set_teacher_temp``), and the prototypes frozen by
``FreezeLastLayerHook`` (``last_layer_parameters``).
"""
import copy
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmpretrain.models import BaseSelfSupervisor
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
from torch import nn

from ...utils.errors import ConfigError
from .alignment_diagnostics import in_batch_image_share
from .pixel_decoder import masked_l1_loss
from .pose_alignment import PoseAlignment


def _build(cfg):
    return cfg if isinstance(cfg, nn.Module) else MODELS.build(cfg)


#: the paper's three loss terms, the keys of ``loss_weights``
LOSS_TERMS = ('pose', 'patch', 'recon')


@MODELS.register_module()
class HandMIM(BaseSelfSupervisor):
    """The HandMIM pre-training algorithm: masked student, EMA teacher, three losses.

    Args:
        backbone (dict): a ``HandMIMViT``.
        projection_head (dict): a ``HandMIMProjectionHead`` (MLP, bottleneck, prototypes),
            shared by the class token and the patches.
        distill_loss (dict): a ``HandMIMDistillLoss`` (teacher centres and temperatures).
        decoder (dict, optional): a ``PyramidPixelDecoder``; needed when the ``recon`` weight
            is not 0.
        use_pose_alignment (bool): align class-token bottlenecks to the source frame before
            L_pose (eq. 4). Off: the plain DINO/iBOT cross-view loss, logged as ``loss_cls``.
        pose_alignment (dict): arguments of ``PoseAlignment`` (``mode``, ``center_momentum``):
            how eq. 4 reads the pseudo points. Default: centred points and a running
            bottleneck centre; ``dict(mode='eq4', center_momentum=None)`` is the paper's literal
            reading (degenerate, see ``pose_alignment``).
        loss_weights (dict): ``pose``, ``patch``, ``recon``. A term weighted 0 is not computed
            and not returned; its modules (decoder) are not built.
        pretrained (str, optional): passed to ``BaseSelfSupervisor``.
        data_preprocessor (dict, optional): passed to ``BaseSelfSupervisor``.
        init_cfg (dict or List[dict], optional): passed to ``BaseSelfSupervisor``.

    Raises:
        ValueError: ``loss_weights`` has unknown keys or all its weights are 0; the ``recon``
            weight is not 0 without a ``decoder``; or the decoder's stages do not match the
            backbone's patch size (``2 ** num_levels``) or its number of levels.
    """

    def __init__(self, backbone: Union[dict, nn.Module], projection_head: Union[dict, nn.Module],
                 distill_loss: Union[dict, nn.Module],
                 decoder: Optional[Union[dict, nn.Module]] = None,
                 use_pose_alignment: bool = True,
                 pose_alignment: dict = dict(mode='centred', center_momentum=0.9),
                 loss_weights: Dict[str, float] = dict(pose=1.0, patch=1.0, recon=1.0),
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None,
                 init_cfg: Optional[Union[dict, List[dict]]] = None) -> None:
        # mmpretrain's ``neck``/``head`` slots would name a projection head and a loss
        # module misleadingly; they stay empty and the parts get slots of their own
        super().__init__(backbone=backbone, pretrained=pretrained,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.projection_head = _build(projection_head)
        self.distill_loss = _build(distill_loss)
        unknown = set(loss_weights) - set(LOSS_TERMS)
        if unknown:
            raise ConfigError(
                f'model.loss_weights has unknown keys {sorted(unknown)}; the HandMIM loss terms '
                f'are {list(LOSS_TERMS)} (pose: L_pose, patch: L_patch, recon: L_recon; a term '
                'weighted 0 or left out is not computed)')
        self.loss_weights = {k: float(loss_weights.get(k, 0.)) for k in LOSS_TERMS}
        if not any(self.loss_weights.values()):
            raise ConfigError('model.loss_weights are all 0: weight at least one of '
                              f'{list(LOSS_TERMS)}')
        self.use_pose_alignment = use_pose_alignment
        self.pose_alignment = (
            PoseAlignment(self.projection_head.bottleneck_dim, **pose_alignment)
            if use_pose_alignment else None)
        self.last_image_share = None  # of the last training batch (see PoseCollapseMonitorHook)
        self.patch_size = self.backbone.patch_embed.projection.stride[0]
        self.decoder = None
        if self.loss_weights['recon']:
            if decoder is None:
                raise ConfigError('model.loss_weights.recon > 0 needs model.decoder (the '
                                  'pyramid pixel decoder config); set it or weight recon 0')
            self.decoder = _build(decoder)
            if 2**self.decoder.num_levels != self.patch_size:
                raise ValueError(f'{self.decoder.num_levels} stride-2 decoder stages cannot '
                                 f'undo patch size {self.patch_size}')
            if self.decoder.num_levels != len(self.backbone.level_indices):
                raise ValueError(f'decoder has {self.decoder.num_levels} stages but the '
                                 f'backbone gives {len(self.backbone.level_indices)} levels')
        self.teacher = nn.ModuleDict(
            dict(backbone=copy.deepcopy(self.backbone),
                 projection_head=copy.deepcopy(self.projection_head)))
        self.teacher.requires_grad_(False)

    # --- teacher --------------------------------------------------------------------------
    def _student_teacher_pairs(self):
        return [(self.backbone, self.teacher.backbone),
                (self.projection_head, self.teacher.projection_head)]

    def init_weights(self) -> None:
        """Initialise the student, then copy it into the teacher."""
        super().init_weights()
        # the teacher starts as the (initialised) student; resuming loads both afterwards
        for student, teacher in self._student_teacher_pairs():
            teacher.load_state_dict(student.state_dict())

    def train(self, mode: bool = True) -> 'HandMIM':
        """Set the training mode; the teacher always stays in eval mode (drop-path off).

        Args:
            mode (bool): training (True) or evaluation mode, for all but the teacher.

        Returns:
            HandMIM: the model itself.
        """
        super().train(mode)
        self.teacher.eval()
        return self

    @torch.no_grad()
    def update_teacher(self, momentum: float) -> None:
        """EMA update ``teacher = momentum * teacher + (1 - momentum) * student``.

        Buffers are copied from the student.

        Args:
            momentum (float): the decay (DINO/iBOT convention, 0.996 -> 1).
        """
        for student, teacher in self._student_teacher_pairs():
            t_params = list(teacher.parameters())
            s_params = [p.detach() for p in student.parameters()]
            torch._foreach_mul_(t_params, momentum)
            torch._foreach_add_(t_params, s_params, alpha=1 - momentum)
            for t_buf, s_buf in zip(teacher.buffers(), student.buffers()):
                t_buf.copy_(s_buf)

    def set_teacher_temp(self, temp: float, patch_temp: Optional[float] = None) -> None:
        """Set the distillation loss's teacher temperatures.

        Args:
            temp (float): teacher temperature of the class-token outputs.
            patch_temp (float, optional): of the patch outputs; None: ``temp``.
        """
        self.distill_loss.teacher_temp = temp
        self.distill_loss.teacher_patch_temp = temp if patch_temp is None else patch_temp

    def last_layer_parameters(self) -> List[nn.Parameter]:
        """The projection head's last-layer (prototype) parameters, for freezing.

        Returns:
            List[nn.Parameter]: see ``HandMIMProjectionHead.last_layer_parameters``.
        """
        return self.projection_head.last_layer_parameters()

    # --- forward ----------------------------------------------------------------------------
    def reconstruct(self, img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Student reconstruction of normalised images under a patch mask.

        Args:
            img (torch.Tensor): normalised images ``(B, 3, H, W)``.
            mask (torch.Tensor): patch mask ``(B, h, w)`` on the token grid, True = masked.

        Returns:
            torch.Tensor: the reconstruction ``(B, 3, H, W)``.
        """
        _, _, levels = self.backbone.forward_features(img, mask)
        grid = (img.shape[-2] // self.patch_size, img.shape[-1] // self.patch_size)
        return self.decoder(levels, grid)

    def _cls_logits(self, projection_head, cls, geometry):
        """Prototype logits of class tokens, their bottlenecks and the aligned ones."""
        z = aligned = projection_head.bottleneck(cls)
        if self.use_pose_alignment:
            aligned = self.pose_alignment(z, geometry)
        return projection_head.prototypes(aligned), z, aligned

    def loss(self, inputs: List[torch.Tensor],
             data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """The weighted HandMIM losses of a batch.

        In training mode it also updates the teacher centres, the pose alignment's bottleneck
        centre (when both are used) and ``last_image_share`` (for PoseCollapseMonitorHook).

        Args:
            inputs (List[torch.Tensor]): views ``(B, 3, H, W)``, global views first (as many
                as the data samples' masks), then local views.
            data_samples (List[DataSample]): one per sample, with ``mask (V_g, h, w)`` and
                ``view_geometry (V, 2, 3)``.

        Returns:
            Dict[str, torch.Tensor]: ``loss_pose`` (``loss_cls`` without pose alignment),
            ``loss_patch`` and ``loss_recon``, each only when its weight is not 0.
        """
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
            s_logits = self._cls_logits(self.projection_head, s_cls,
                                        geometry.flatten(0, 1))[0]
            with torch.no_grad():
                t_cls_logits, t_z, t_aligned = self._cls_logits(
                    self.teacher.projection_head, t_cls, geometry[:n_global].flatten(0, 1))
                if self.training:  # for PoseCollapseMonitorHook: image- or geometry-driven?
                    t_aligned = F.normalize(t_aligned.float(), dim=-1)
                    self.last_image_share = in_batch_image_share(
                        t_aligned.unflatten(0, (n_global, -1)).transpose(0, 1))
            t_probs = self.distill_loss.teacher_probs(t_cls_logits)
            loss = self.distill_loss.cls_loss(s_logits.chunk(len(inputs)), t_probs.chunk(n_global))
            losses['loss_pose' if self.use_pose_alignment else 'loss_cls'] = w['pose'] * loss
        if w['patch']:
            image_idx, patch_idx = masks.flatten(1).nonzero(as_tuple=True)
            # the student head runs on masked patches only; the teacher on all (for the centre)
            s_logits = self.projection_head(s_patch[image_idx, patch_idx], patch=True)
            with torch.no_grad():
                t_patch_logits = self.teacher.projection_head(t_patch, patch=True)
            t_probs = self.distill_loss.teacher_probs(t_patch_logits[image_idx, patch_idx],
                                                      patch=True)
            losses['loss_patch'] = w['patch'] * self.distill_loss.patch_loss(
                s_logits, t_probs, image_idx, masks.shape[0])
        if w['recon']:
            pred = self.decoder(s_levels, masks.shape[-2:])
            losses['loss_recon'] = w['recon'] * masked_l1_loss(pred, global_imgs, masks,
                                                               self.patch_size)
        if self.training:
            self.distill_loss.update_center(t_cls_logits, t_patch_logits)
            if w['pose'] and self.use_pose_alignment:
                self.pose_alignment.update_center(t_z)
        return losses
