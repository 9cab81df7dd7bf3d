"""Pyramid pixel decoder and masked L1 loss of HandMIM (eq. 8-9).

``T^{i+1} = TConv(Linear(Concat[T^i, L^i]))``: four stages, each one stride-2 transposed
convolution, take the 14x14 token grid to 224x224 RGB (patch 16 = 2^4).

What the paper leaves open, decided here:

* Level order: the deepest block (12) enters the first, coarsest stage and the shallowest
  (block 3) the last, finest one, as skip connections do in U-Net/FPN decoders (deep =
  semantic, shallow = local detail for fine resolution). The first stage has no ``T``:
  ``T^1 = TConv(Linear(L^1))``.
* ``L^i`` (always 14x14) is brought to ``T^i``'s resolution by bilinear upsampling. Because
  both the upsampling and the linear layer are linear (and bilinear weights sum to 1),
  ``Linear(Concat[T, up(L)]) = W_T T + up(W_L L + b)`` exactly; the decoder computes the
  ``L`` half at 14x14 and upsamples the projected result (cheap, identical output).
* Each level is layer-normalised first (intermediate ViT blocks are not normed), and a GELU
  follows each fusion. Transposed convs use kernel 4, stride 2, padding 1 (exact 2x).
"""
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.models.losses import PixelReconstructionLoss
from mmpretrain.registry import MODELS
from torch import nn


@MODELS.register_module()
class PyramidPixelDecoder(nn.Module):
    """Pyramid pixel decoder (eq. 8): ViT levels to an image, one stride-2 stage per level.

    Args:
        in_channels (int): ViT width.
        channels (Sequence[int]): fusion width of each stage (coarse to fine); their number
            is ``num_levels`` (4 = number of stride-2 stages).
        out_channels (int): 3 (RGB).
        kernel_size (int): of the transposed convolutions.
    """

    def __init__(self, in_channels: int, channels: Sequence[int] = (256, 128, 64, 32),
                 out_channels: int = 3, kernel_size: int = 4) -> None:
        super().__init__()
        self.num_levels = len(channels)
        self.level_norms = nn.ModuleList(nn.LayerNorm(in_channels) for _ in channels)
        self.level_proj = nn.ModuleList(nn.Linear(in_channels, c) for c in channels)
        # the T half of each fusion Linear (no bias: the L half carries it); none at stage 1
        self.state_proj = nn.ModuleList(
            nn.Conv2d(c_prev, c, 1, bias=False) for c_prev, c in zip(channels[:-1], channels[1:]))
        outs = list(channels[:-1]) + [out_channels]  # each TConv keeps its width; last: RGB
        self.tconvs = nn.ModuleList(
            nn.ConvTranspose2d(c, o, kernel_size, stride=2, padding=(kernel_size - 2) // 2)
            for c, o in zip(channels, outs))
        self.act = nn.GELU()

    def forward(self, levels: Sequence[torch.Tensor], grid: Tuple[int, int]) -> torch.Tensor:
        """Decode the levels into an image.

        Args:
            levels (Sequence[torch.Tensor]): ``num_levels`` tensors ``(B, N, C)`` in block
                order (shallow first).
            grid (Tuple[int, int]): ``(h, w)`` token grid.

        Returns:
            torch.Tensor: ``(B, out_channels, h * 2^L, w * 2^L)``.

        Raises:
            ValueError: the number of levels is not ``num_levels``.
        """
        if len(levels) != self.num_levels:
            raise ValueError(f'decoder expects {self.num_levels} levels, got {len(levels)}')
        state = None
        for i, tokens in enumerate(reversed(levels)):
            lvl = self.level_proj[i](self.level_norms[i](tokens))
            lvl = lvl.transpose(1, 2).unflatten(-1, tuple(grid))
            if state is None:
                fused = lvl
            else:
                fused = self.state_proj[i - 1](state) + F.interpolate(
                    lvl, size=state.shape[-2:], mode='bilinear', align_corners=False)
            state = self.tconvs[i](self.act(fused))
        return state


def masked_l1_loss(pred: torch.Tensor, target: torch.Tensor, patch_mask: torch.Tensor,
                   patch_size: int) -> torch.Tensor:
    """Eq. 9: mean absolute error over the pixels (and channels) of masked patches.

    Args:
        pred (torch.Tensor): reconstruction ``(B, C, H, W)``.
        target (torch.Tensor): images ``(B, C, H, W)``.
        patch_mask (torch.Tensor): ``(B, h, w)`` bool, True = masked.
        patch_size (int): pixels per patch side (``H = h * patch_size``).

    Returns:
        torch.Tensor: the 0-d loss. A batch without any masked patch gives a 0 that keeps
        the graph (mmpretrain's loss would divide by zero).
    """
    pixel_mask = patch_mask.repeat_interleave(patch_size, -2).repeat_interleave(
        patch_size, -1).unsqueeze(1).to(pred.dtype)
    if not bool(patch_mask.any()):
        return pred.sum() * 0.
    return PixelReconstructionLoss('L1', channel=pred.shape[1])(
        pred.float(), target.float(), pixel_mask.float())
