"""Patch masks (ratio, blocks, masked fraction) and the masked ViT."""
import cv2
import numpy as np
import pytest
import torch
from mmpretrain.models import VisionTransformer

from mmhandmim.datasets.transforms.view_masks import PatchMaskGenerator
from mmhandmim.models.selfsup import HandMIMViT, handmim_to_backbone_state_dict

from .tiny import build_model

ARCH = dict(embed_dims=48, num_layers=4, num_heads=3, feedforward_channels=96)


def _components(mask):
    return cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)[0] - 1


def test_block_mask_statistics_match_the_config():
    gen = PatchMaskGenerator((14, 14), ratio=(0.1, 0.5), prob=0.5, shape='block')
    rng = np.random.default_rng(0)
    masks = np.stack([gen(rng) for _ in range(2000)])
    ratios = masks.reshape(len(masks), -1).mean(1)
    masked = ratios > 0
    assert abs(masked.mean() - 0.5) < 0.04  # prob of masking a view
    r = ratios[masked]
    assert r.max() <= 0.5 + 1e-9 and r.min() >= 0.05
    # iBOT approaches U[0.1, 0.5] * 196 from below, in blocks of >= ~16 patches
    assert 0.26 < r.mean() < 0.31
    assert np.corrcoef(r[:-1], r[1:])[0, 1] < 0.1  # fresh ratio per view
    blocks = np.array([_components(m) for m in masks[masked]])
    assert blocks.mean() < 3
    assert (r * 196 / blocks).mean() > 16  # patches per connected block
    # random masks of the same ratios are scattered: many more components
    rand = PatchMaskGenerator((14, 14), ratio=(0.1, 0.5), prob=1.0, shape='random')
    rand_masks = [rand(rng) for _ in range(300)]
    assert np.mean([_components(m) for m in rand_masks]) > 3 * blocks.mean()


def test_block_aspect_ratio_range():
    gen = PatchMaskGenerator((14, 14), ratio=(0.1, 0.12), prob=1.0, aspect=(0.3, 1 / 0.3))
    rng = np.random.default_rng(1)
    aspects = []
    for _ in range(500):
        m = gen(rng)
        if _components(m) == 1:
            ys, xs = np.nonzero(m)
            aspects.append((ys.ptp() + 1) / (xs.ptp() + 1))
    aspects = np.log(aspects)
    assert aspects.min() > np.log(0.3) - 0.45 and aspects.max() < np.log(1 / 0.3) + 0.45
    assert aspects.std() > 0.4  # varied shapes, not squares


def test_random_mask_exact_count():
    gen = PatchMaskGenerator((14, 14), ratio=(0.1, 0.5), prob=1.0, shape='random')
    rng = np.random.default_rng(2)
    counts = np.array([gen(rng).sum() for _ in range(500)])
    assert counts.min() >= int(0.1 * 196) and counts.max() <= int(0.5 * 196)
    assert abs(counts.mean() / 196 - 0.3) < 0.02


def test_mask_generator_rejects_unknown_shape():
    with pytest.raises(ValueError, match='block'):
        PatchMaskGenerator((14, 14), shape='grid')


def _vit_pair(**kw):
    torch.manual_seed(0)
    ours = HandMIMViT(arch=ARCH, img_size=64, patch_size=16, **kw)
    ours.init_weights()
    plain = VisionTransformer(arch=ARCH, img_size=64, patch_size=16, **kw)
    missing = plain.load_state_dict(
        {k: v for k, v in ours.state_dict().items() if k != 'mask_token'}, strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    assert set(ours.state_dict()) - set(plain.state_dict()) == {'mask_token'}
    ours.eval()
    plain.eval()  # BaseBackbone.train returns None
    return ours, plain


@pytest.mark.parametrize('out_type,out_indices', [('cls_token', -1), ('featmap', [1, 3]),
                                                  ('raw', [0, 2, 3])])
def test_without_mask_equals_parent(out_type, out_indices):
    ours, plain = _vit_pair(out_type=out_type, out_indices=out_indices)
    x = torch.randn(2, 3, 64, 64)
    for a, b in zip(ours(x), plain(x), strict=True):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    cls, patches, levels = ours.forward_features(x)
    last = plain.__class__(arch=ARCH, img_size=64, patch_size=16, out_type='raw')
    last.load_state_dict(plain.state_dict())
    last.eval()
    raw = last(x)[-1]
    torch.testing.assert_close(cls, raw[:, 0], atol=0, rtol=0)
    torch.testing.assert_close(patches, raw[:, 1:], atol=0, rtol=0)
    assert len(levels) == 4 and ours.level_indices == (0, 1, 2, 3)


def test_default_levels_scale_with_depth():
    assert HandMIMViT(arch='deit-small', img_size=32).level_indices == (2, 5, 8, 11)
    large = dict(embed_dims=32, num_layers=24, num_heads=2, feedforward_channels=32)
    assert HandMIMViT(arch=large, img_size=32).level_indices == (5, 11, 17, 23)


def test_masked_tokens_become_the_mask_token_before_pos_embed():
    vit, _ = _vit_pair()
    x = torch.randn(3, 3, 64, 64)
    mask = torch.rand(3, 4, 4) < 0.4
    mask[0, 0, 0] = True
    plain_tokens, hw = vit.patch_embed(x)
    tokens, _ = vit.embed_patches(x, mask)
    flat = mask.flatten(1)
    torch.testing.assert_close(tokens[flat], vit.mask_token[0].expand(int(flat.sum()), -1))
    torch.testing.assert_close(tokens[~flat], plain_tokens[~flat], atol=0, rtol=0)
    # an all-false mask changes nothing; a mask changes the outputs
    cls0 = vit.forward_features(x)[0]
    torch.testing.assert_close(vit.forward_features(x, torch.zeros_like(mask))[0], cls0)
    assert not torch.allclose(vit.forward_features(x, mask)[0], cls0)
    # the positional embedding is still added to masked tokens
    cls_pos = vit._tokens(x, mask)[0][:, 1:]
    torch.testing.assert_close(cls_pos[flat] - vit.pos_embed[0, 1:].expand(3, -1, -1)[flat],
                               tokens[flat])
    with pytest.raises(ValueError, match='grid'):
        vit.embed_patches(x, torch.zeros(3, 2, 2, dtype=torch.bool))


def test_algorithm_checkpoint_converts_to_a_plain_vit():
    model = build_model()
    with torch.no_grad():
        model.teacher.backbone.cls_token.add_(1.0)  # tell teacher from student
    sd = model.state_dict()
    assert any(k.startswith('teacher.backbone.') for k in sd)
    plain = VisionTransformer(arch=ARCH, img_size=64, patch_size=16)
    for source, cls_shift in (('teacher', 1.0), ('student', 0.0)):
        converted = handmim_to_backbone_state_dict(sd, source, prefix='')
        plain.load_state_dict(converted, strict=True)
        torch.testing.assert_close(plain.cls_token,
                                   model.backbone.cls_token + cls_shift)
    assert all(k.startswith('backbone.') for k in handmim_to_backbone_state_dict(sd))
    with pytest.raises(KeyError):
        handmim_to_backbone_state_dict({'foo': torch.zeros(1)})
