"""PyMAF's point-feature extractor: sample a feature map at 2D points, shrink per point."""
import torch
import torch.nn.functional as F
from torch import nn


def pixel_to_grid(points, img_size):
    """Crop pixels (x right, y down; pixel i spans [i, i+1)) -> grid_sample's [-1, 1]."""
    size = points.new_tensor(img_size)
    return points / size * 2 - 1


def uniform_grid(n, device=None, dtype=None):
    """(n*n, 2) points of an n x n grid covering [-1, 1]^2 (PyMAF's iteration-0 sampling)."""
    t = torch.linspace(-1, 1, n, device=device, dtype=dtype)
    y, x = torch.meshgrid(t, t, indexing='ij')
    return torch.stack([x.reshape(-1), y.reshape(-1)], dim=-1)


class PointFeatureExtractor(nn.Module):
    """Bilinear samples of a (B, C, h, w) map at (B, N, 2) grid points, reduced per point by
    1x1 convolutions (C -> ... -> out) and flattened to (B, N * out)."""

    def __init__(self, in_channels, channels=(128, 64, 5)):
        super().__init__()
        layers, c = [], in_channels
        for i, out in enumerate(channels):
            layers.append(nn.Conv1d(c, out, 1))
            if i < len(channels) - 1:
                layers.append(nn.LeakyReLU(inplace=True))
            c = out
        self.reduce = nn.Sequential(*layers)

    def forward(self, feat, grid_points):
        sampled = F.grid_sample(feat, grid_points[:, :, None].to(feat.dtype),
                                align_corners=False)  # (B, C, N, 1)
        return self.reduce(sampled[..., 0]).flatten(1)
