"""The auxiliary keypoint heatmap loss (PyMAF-style dense supervision of the head's finest
map): 0 exactly at its target, the target centred on the keypoint in the crop's pixel
convention, keypoints outside the crop and unlabelled samples ignored, and in the head its
gradient reaches the backbone."""
import math

import pytest
import torch
from mmpose.registry import MODELS

import mmhandmim  # noqa: F401
from mmhandmim.models.mesh.losses import KeypointHeatmapLoss

from .conftest import tiny_model
from .test_mesh_estimator import batch, run

pytestmark = pytest.mark.usefixtures('mmpose_scope')
CROP = (64, 48)   # (W, H): a non-square crop catches swapped axes
MAP = (12, 16)    # (h, w): stride 4


def _points():
    return torch.tensor([[[20.3, 17.9], [33.0, 30.1], [41.7, 22.2]]], dtype=torch.float64)


def test_target_is_centred_on_the_keypoint():
    """The expected position of the target, cell centres mapped back to crop pixels (cell j
    covers [4j, 4j + 4)), is the keypoint; a half-cell slip would be off by 2 px."""
    loss = KeypointHeatmapLoss(sigma=1.0)   # the points sit >= 4 sigma inside the map
    t = loss.target(_points(), CROP, MAP).view(1, 3, *MAP)
    xs = (torch.arange(MAP[1], dtype=torch.float64) + 0.5) * 4
    ys = (torch.arange(MAP[0], dtype=torch.float64) + 0.5) * 4
    mean = torch.stack([(t.sum(2) * xs).sum(-1), (t.sum(3) * ys).sum(-1)], -1)
    torch.testing.assert_close(mean, _points(), atol=1e-2, rtol=0)
    torch.testing.assert_close(t.flatten(2).sum(-1), torch.ones(1, 3, dtype=torch.float64))


def test_zero_at_the_target_and_kl_from_uniform():
    loss = KeypointHeatmapLoss(loss_weight=1.0, sigma=1.5)
    gt, w = _points(), torch.ones(1, dtype=torch.float64)
    t = loss.target(gt, CROP, MAP)
    at_target = loss(t.clamp(min=1e-300).log().view(1, 3, *MAP), gt, CROP, w)
    assert abs(at_target.item()) < 1e-9
    entropy = -(t * t.clamp(min=1e-300).log()).sum(-1).mean()
    uniform = loss(torch.zeros(1, 3, *MAP, dtype=torch.float64), gt, CROP, w)
    assert uniform.item() == pytest.approx(math.log(MAP[0] * MAP[1]) - entropy.item(),
                                           abs=1e-9)
    assert uniform.item() > 1.0


def test_outside_keypoints_and_unlabelled_samples_are_ignored():
    loss = KeypointHeatmapLoss(sigma=1.5)
    gt = torch.cat([_points(), _points()]).clone()
    gt[0, 2] = torch.tensor([70.0, 10.0])   # beyond the crop's right edge
    logits = torch.randn(2, 3, *MAP, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    weight = torch.tensor([1.0, 0.0], dtype=torch.float64)
    base = loss(logits, gt, CROP, weight)
    changed = logits.clone()
    changed[0, 2] += torch.randn(*MAP, dtype=torch.float64)   # the outside keypoint
    changed[1] += 5 * torch.randn(3, *MAP, dtype=torch.float64)  # the unlabelled sample
    assert loss(changed, gt, CROP, weight).item() == pytest.approx(base.item(), abs=1e-12)
    changed[0, 0] += torch.randn(*MAP, dtype=torch.float64)
    assert loss(changed, gt, CROP, weight).item() != pytest.approx(base.item(), abs=1e-6)


def test_head_trains_the_heatmap_from_the_finest_map(freihand_small):
    torch.manual_seed(0)
    model = MODELS.build(tiny_model(
        loss_heatmap=dict(type='KeypointHeatmapLoss', loss_weight=1.0, sigma=2.0)))
    losses = run(model, batch(freihand_small, 4), 'loss')
    assert 'loss_heatmap' in losses and losses['loss_heatmap'].item() > 0
    losses['loss_heatmap'].backward()
    assert model.head.heatmap_conv.weight.grad.abs().sum() > 0
    assert model.backbone.patch_embed.projection.weight.grad.abs().sum() > 0
    # off by default
    assert 'loss_heatmap' not in run(MODELS.build(tiny_model()), batch(freihand_small, 4),
                                     'loss')
