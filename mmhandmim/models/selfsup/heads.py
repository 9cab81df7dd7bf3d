"""iBOT/DINO projection head, split at the bottleneck so pose alignment can act in between.

``tokens -> MLP -> bottleneck z (256) -> [pose alignment of class tokens] -> L2 normalise ->
weight-normalised linear (no bias) -> prototype logits``.
"""
from typing import List, Optional

import torch
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_
from mmpretrain.registry import MODELS
from torch import nn


class WeightNormLinear(nn.Module):
    """``x @ (g * v / ||v||).T`` without bias: DINO's ``weight_norm(Linear)`` last layer.

    With ``norm_last_layer`` the gain is fixed at 1 (a buffer), so logits of the normalised
    bottleneck are cosine similarities to the prototypes.

    Args:
        in_dim (int): input width.
        out_dim (int): output width (number of prototypes).
        norm_last_layer (bool): fix the gain at 1 (a buffer); False: a learned parameter.
    """

    def __init__(self, in_dim: int, out_dim: int, norm_last_layer: bool = True) -> None:
        super().__init__()
        self.weight_v = nn.Parameter(torch.empty(out_dim, in_dim))
        trunc_normal_(self.weight_v, std=0.02)
        gain = torch.ones(out_dim, 1)
        if norm_last_layer:
            self.register_buffer('weight_g', gain)
        else:
            self.weight_g = nn.Parameter(gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the weight-normalised linear map.

        Args:
            x (torch.Tensor): ``(..., in_dim)``.

        Returns:
            torch.Tensor: ``(..., out_dim)``.
        """
        return F.linear(x, self.weight_g * F.normalize(self.weight_v, dim=-1))


def _mlp(in_dim, hidden_dim, bottleneck_dim, num_layers):
    dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [bottleneck_dim]
    layers = []
    for i in range(num_layers):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < num_layers - 1:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


@MODELS.register_module()
class HandMIMProjectionHead(nn.Module):
    """Projection head of the class and patch tokens (iBOT values by default).

    Args:
        in_channels (int): token width of the backbone.
        out_dim (int): number of class-token prototypes (8192).
        patch_out_dim (int, optional): number of patch prototypes; defaults to ``out_dim``.
        hidden_dim (int): MLP width (2048).
        bottleneck_dim (int): 256, must be even because pose alignment reads it as
            ``bottleneck_dim / 2`` 2D points.
        num_layers (int): MLP depth (3).
        shared_patch_head (bool): patch tokens use the class-token last layer (iBOT ViT-S/B).
            When False, they get their own last layer on the shared MLP.
        norm_last_layer (bool): fix the last layer's weight-norm gain at 1.

    Raises:
        ValueError: ``bottleneck_dim`` is odd, or a shared patch head has
            ``patch_out_dim != out_dim``.
    """

    def __init__(self, in_channels: int, out_dim: int = 8192,
                 patch_out_dim: Optional[int] = None, hidden_dim: int = 2048,
                 bottleneck_dim: int = 256, num_layers: int = 3, shared_patch_head: bool = True,
                 norm_last_layer: bool = True) -> None:
        super().__init__()
        if bottleneck_dim % 2:
            raise ValueError(f'bottleneck_dim must be even (2D pseudo points), got '
                             f'{bottleneck_dim}')
        self.out_dim, self.bottleneck_dim = out_dim, bottleneck_dim
        self.patch_out_dim = patch_out_dim or out_dim
        if shared_patch_head and self.patch_out_dim != out_dim:
            raise ValueError('a shared patch head needs patch_out_dim == out_dim')
        self.mlp = _mlp(in_channels, hidden_dim, bottleneck_dim, num_layers)
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.last_layer = WeightNormLinear(bottleneck_dim, out_dim, norm_last_layer)
        self.patch_last_layer = (self.last_layer if shared_patch_head else WeightNormLinear(
            bottleneck_dim, self.patch_out_dim, norm_last_layer))

    def bottleneck(self, tokens: torch.Tensor) -> torch.Tensor:
        """The MLP's bottleneck ``z``.

        Args:
            tokens (torch.Tensor): ``(..., in_channels)``.

        Returns:
            torch.Tensor: ``(..., bottleneck_dim)``.
        """
        return self.mlp(tokens)

    def prototypes(self, z: torch.Tensor, patch: bool = False) -> torch.Tensor:
        """Prototype logits of L2-normalised bottlenecks.

        Args:
            z (torch.Tensor): bottlenecks ``(..., bottleneck_dim)``.
            patch (bool): use the patch last layer (else the class-token one).

        Returns:
            torch.Tensor: ``(..., out_dim)``, or ``(..., patch_out_dim)`` with ``patch``.
        """
        layer = self.patch_last_layer if patch else self.last_layer
        return layer(F.normalize(z, dim=-1))

    def forward(self, tokens: torch.Tensor, patch: bool = False) -> torch.Tensor:
        """Prototype logits of tokens: ``prototypes(bottleneck(tokens), patch)``.

        Args:
            tokens (torch.Tensor): ``(..., in_channels)``.
            patch (bool): patch tokens (the patch last layer).

        Returns:
            torch.Tensor: ``(..., out_dim)``, or ``(..., patch_out_dim)`` with ``patch``.
        """
        return self.prototypes(self.bottleneck(tokens), patch)

    def last_layer_parameters(self) -> List[nn.Parameter]:
        """Parameters frozen during the first epoch (iBOT ``freeze_last_layer``).

        Returns:
            List[nn.Parameter]: those of the class and patch last layers, each once.
        """
        seen = {id(p): p for m in (self.last_layer, self.patch_last_layer)
                for p in m.parameters()}
        return list(seen.values())
