"""ViT backbones: activation checkpointing for mmpretrain's ViT, and the masked HandMIM ViT.

``CheckpointedViT`` is mmpretrain's ``VisionTransformer`` (same arguments, state dict and
outputs) with ``with_cp``: each block's activations are recomputed in the backward pass
instead of being kept (mmpretrain 1.2's ``TransformerEncoderLayer`` has no ``with_cp``, so
``layer_cfgs=dict(with_cp=True)`` is not an option). The mesh configs use it for that switch.

``HandMIMViT`` adds one ``mask_token``: masked patch embeddings are replaced by it *before*
the positional embedding is added (iBOT, BEiT), so a masked token still knows where it is.
Apart from ``mask_token`` the state dict is that of ``VisionTransformer``; see
``checkpoint.py`` for turning an algorithm checkpoint into a plain backbone checkpoint.
"""
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.models import VisionTransformer
from mmpretrain.models.utils import resize_pos_embed
from mmpretrain.registry import MODELS
from torch import nn
from torch.utils import checkpoint as torch_checkpoint


@MODELS.register_module()
class CheckpointedViT(VisionTransformer):
    """``VisionTransformer`` whose blocks can be recomputed in the backward pass.

    With ``with_cp`` a block keeps only its input during the forward pass and runs again in
    the backward pass: the activation memory of the blocks drops to about one block's worth
    plus the block inputs, for about one more forward pass of compute (~30 % slower steps).
    Outputs and gradients are unchanged (the RNG state is restored for the recomputation,
    so dropout and drop-path draw the same masks). It applies only in training mode with
    gradients enabled; evaluation and ``torch.no_grad()`` (the EMA teacher) run as usual.

    Args:
        *args: positional arguments of ``VisionTransformer``.
        with_cp (bool): checkpoint every block. Default: False.
        **kwargs: the other arguments of ``VisionTransformer``.
    """

    def __init__(self, *args: Any, with_cp: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.with_cp = with_cp

    def embed_patches(self, x: torch.Tensor,
                      mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Patch embeddings ``(B, N, C)`` and the patch grid ``(h, w)``.

        Raises:
            ValueError: a mask is given (``HandMIMViT`` takes one).
        """
        if mask is not None:
            raise ValueError(f'{type(self).__name__} takes no patch mask; HandMIMViT does')
        return self.patch_embed(x)

    def _tokens(self, x, mask=None):
        x, hw = self.embed_patches(x, mask)
        if self.cls_token is not None:
            x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1)
        x = x + resize_pos_embed(self.pos_embed, self.patch_resolution, hw,
                                 mode=self.interpolate_mode,
                                 num_extra_tokens=self.num_extra_tokens)
        return self.pre_norm(self.drop_after_pos(x)), hw

    def _run_layer(self, layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and self.training and torch.is_grad_enabled():
            # non-reentrant: parameter gradients flow even when x needs none (frozen stem)
            return torch_checkpoint.checkpoint(layer, x, use_reentrant=False)
        return layer(x)

    def _blocks(self, x: torch.Tensor) -> Iterator[Tuple[int, torch.Tensor]]:
        """Yields ``(block index, tokens)`` after each block, the last one final-normed."""
        for i, layer in enumerate(self.layers):
            x = self._run_layer(layer, x)
            if i == len(self.layers) - 1 and self.final_norm:
                x = self.ln1(x)
            yield i, x

    def _outputs(self, x, hw):
        return tuple(self._format_output(out, hw) for i, out in self._blocks(x)
                     if i in self.out_indices)

    def forward(self, x: torch.Tensor) -> Tuple[Any, ...]:
        """``VisionTransformer.forward``: one output per ``out_indices`` block.

        Args:
            x (torch.Tensor): images ``(B, 3, H, W)``.

        Returns:
            Tuple[Any, ...]: formatted as by ``VisionTransformer`` (``out_type``).
        """
        return self._outputs(*self._tokens(x))


@MODELS.register_module()
class HandMIMViT(CheckpointedViT):
    """``VisionTransformer`` that accepts a patch mask.

    Args:
        level_indices (Sequence[int], optional): blocks (0-based) whose outputs feed the pixel
            decoder. Default: the ends of the four quarters of the depth, i.e. blocks 3, 6, 9,
            12 of a 12-block ViT (indices 2, 5, 8, 11) and 6, 12, 18, 24 of ViT-L.
        *args: positional arguments of ``VisionTransformer``.
        **kwargs: the other arguments of ``CheckpointedViT`` (``with_cp``) and
            ``VisionTransformer``.

    Raises:
        ValueError: the ViT has no class token (pose alignment reads it).
    """

    def __init__(self, *args: Any, level_indices: Optional[Sequence[int]] = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.with_cls_token:
            raise ValueError('HandMIMViT needs the class token (pose alignment reads it)')
        self.mask_token = nn.Parameter(torch.zeros(1, 1, self.embed_dims))
        if level_indices is None:
            level_indices = [self.num_layers * k // 4 - 1 for k in range(1, 5)]
        self.level_indices = tuple(i % self.num_layers for i in level_indices)

    def init_weights(self) -> None:
        """``VisionTransformer``'s initialisation, and ``mask_token`` truncated normal (0.02)."""
        super().init_weights()
        trunc_normal_(self.mask_token, std=0.02)

    def embed_patches(self, x: torch.Tensor,
                      mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Patch embeddings with the masked ones replaced by ``mask_token``.

        Args:
            x (torch.Tensor): images ``(B, 3, H, W)``.
            mask (torch.Tensor, optional): ``(B, h, w)`` on the patch grid, True = masked.

        Returns:
            Tuple[torch.Tensor, Tuple[int, int]]: embeddings ``(B, N, C)`` and the patch grid
            ``(h, w)``.

        Raises:
            ValueError: the mask's grid is not the patch grid.
        """
        x, hw = self.patch_embed(x)
        if mask is not None:
            if tuple(mask.shape[-2:]) != tuple(hw):
                raise ValueError(f'mask grid {tuple(mask.shape[-2:])} != patch grid {hw}')
            x = torch.where(mask.flatten(1).unsqueeze(-1).bool(), self.mask_token.to(x.dtype), x)
        return x, hw

    def forward(self, x: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> Tuple[Any, ...]:
        """``VisionTransformer.forward`` (same outputs) with optional masking.

        Args:
            x (torch.Tensor): images ``(B, 3, H, W)``.
            mask (torch.Tensor, optional): ``(B, h, w)`` on the patch grid, True = masked.

        Returns:
            Tuple[Any, ...]: one output per ``out_indices`` block, formatted as by
            ``VisionTransformer`` (``out_type``).
        """
        return self._outputs(*self._tokens(x, mask))

    def forward_features(
            self, x: torch.Tensor, mask: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor, List[torch.Tensor]]:
        """The class token, patch tokens and decoder levels for HandMIM.

        Args:
            x (torch.Tensor): images ``(B, 3, H, W)``.
            mask (torch.Tensor, optional): ``(B, h, w)`` on the patch grid, True = masked.

        Returns:
            Tuple[torch.Tensor, torch.Tensor, List[torch.Tensor]]: ``(cls (B, C), patches
            (B, N, C), levels)``; ``levels`` are the patch tokens ``(B, N, C)`` after the
            ``level_indices`` blocks, in block order.
        """
        x, _ = self._tokens(x, mask)
        levels = []
        for i, out in self._blocks(x):
            if i in self.level_indices:
                levels.append(out[:, self.num_extra_tokens:])
            x = out
        return x[:, 0], x[:, self.num_extra_tokens:], levels
