"""Tiny HandMIM set-up shared by the pre-training tests (64 px views, patch 16, 4 blocks)."""
import copy

import numpy as np
from mmengine.dataset import default_collate

import mmhandmim.datasets  # noqa: F401  (registers the transforms)
import mmhandmim.engine  # noqa: F401
import mmhandmim.models  # noqa: F401
from mmpretrain.registry import MODELS, TRANSFORMS

VIEW = 64
PATCH = 16

MODEL_CFG = dict(
    type='HandMIM',
    backbone=dict(
        type='HandMIMViT',
        arch=dict(embed_dims=48, num_layers=4, num_heads=3, feedforward_channels=96),
        img_size=VIEW, patch_size=PATCH, drop_path_rate=0.1),
    projection_head=dict(type='HandMIMProjectionHead', in_channels=48, out_dim=64, hidden_dim=64,
              bottleneck_dim=256, num_layers=3, shared_patch_head=True),
    distill_loss=dict(type='HandMIMDistillLoss', out_dim=64, student_temp=0.1, teacher_temp=0.04,
              teacher_patch_temp=0.04, center_momentum=0.9),
    decoder=dict(type='PyramidPixelDecoder', in_channels=48, channels=(32, 32, 16, 16)),
    use_pose_alignment=True,
    loss_weights=dict(pose=1.0, patch=1.0, recon=1.0),
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True))

VIEW_CFG = dict(type='HandMultiView', num_views=2, view_size=VIEW, patch_size=PATCH,
                mask_prob=1.0, interpolation='bilinear')
PACK_CFG = dict(type='PackInputs', algorithm_keys=['view_geometry'], meta_keys=['img_path'])


def build_model(**overrides):
    cfg = copy.deepcopy(MODEL_CFG)
    for key, value in overrides.items():
        cfg[key] = value
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def blob_image(rng, height=80, width=96):
    """A dark background with a few coloured ellipses (a stand-in for a hand crop)."""
    import cv2
    img = np.full((height, width, 3), 20, np.uint8) + rng.integers(0, 10, (height, width, 3),
                                                                     dtype=np.uint8)
    for _ in range(4):
        center = (int(rng.integers(10, width - 10)), int(rng.integers(10, height - 10)))
        axes = (int(rng.integers(4, 20)), int(rng.integers(3, 10)))
        color = tuple(int(c) for c in rng.integers(60, 255, 3))
        cv2.ellipse(img, center, axes, float(rng.uniform(0, 180)), 0, 360, color, -1)
    return img


def make_batch(batch_size=4, seed=0, view_cfg=None, images=None):
    """A collated batch (as a dataloader yields it) of multi-view samples."""
    rng = np.random.default_rng(seed)
    view = TRANSFORMS.build(dict(VIEW_CFG, seed=seed, **(view_cfg or {})))
    pack = TRANSFORMS.build(PACK_CFG)
    samples = []
    for i in range(batch_size):
        img = images[i] if images is not None else blob_image(rng)
        samples.append(pack(view(dict(img=img, img_path=f'img{i}.png'))))
    return default_collate(samples)
