"""PyMAF's point-feature extractor: sample a feature map at 2D points, shrink per point."""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import nn


def pixel_to_grid(points: torch.Tensor, img_size: Sequence[int]) -> torch.Tensor:
    """Crop pixels (x right, y down; pixel i spans [i, i+1)) -> grid_sample's [-1, 1].

    Args:
        points (torch.Tensor): (..., 2) crop pixels.
        img_size (Sequence[int]): (W, H) of the crop.

    Returns:
        torch.Tensor: (..., 2) in grid_sample's coordinates (``align_corners=False``).
    """
    size = points.new_tensor(img_size)
    return points / size * 2 - 1


def uniform_grid(n: int, device: Optional[torch.device] = None,
                 dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """(n*n, 2) points of an n x n grid covering [-1, 1]^2 (PyMAF's iteration-0 sampling).

    Args:
        n (int): points per side.
        device (torch.device, optional): of the result.
        dtype (torch.dtype, optional): of the result.

    Returns:
        torch.Tensor: (n*n, 2) ``(x, y)`` points, row by row.
    """
    t = torch.linspace(-1, 1, n, device=device, dtype=dtype)
    y, x = torch.meshgrid(t, t, indexing='ij')
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=-1)


class PointFeatureExtractor(nn.Module):
    """PyMAF's point features: bilinear samples of a feature map, reduced per point.

    Bilinear samples of a (B, C, h, w) map at (B, N, 2) grid points, reduced per point by
    1x1 convolutions (C -> ... -> out) and flattened to (B, N * out).

    Args:
        in_channels (int): C, channels of the feature map.
        channels (Sequence[int]): widths of the 1x1 convolutions (LeakyReLU between them);
            the last one is ``out``.
    """

    def __init__(self, in_channels: int, channels: Sequence[int] = (128, 64, 5)) -> None:
        super().__init__()
        layers, c = [], in_channels
        for i, out in enumerate(channels):
            layers.append(nn.Conv1d(c, out, 1))
            if i < len(channels) - 1:
                layers.append(nn.LeakyReLU(inplace=True))
            c = out
        self.reduce = nn.Sequential(*layers)

    def forward(self, feat: torch.Tensor, grid_points: torch.Tensor) -> torch.Tensor:
        """Sample and reduce.

        Args:
            feat (torch.Tensor): (B, C, h, w) feature map.
            grid_points (torch.Tensor): (B, N, 2) points in grid_sample's [-1, 1].

        Returns:
            torch.Tensor: (B, N * out) point features.
        """
        sampled = F.grid_sample(feat, grid_points[:, :, None].to(feat.dtype),
                                align_corners=False)  # (B, C, N, 1)
        return self.reduce(sampled[..., 0]).flatten(1)
