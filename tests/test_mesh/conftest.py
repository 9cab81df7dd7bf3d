"""Tiny mesh-estimator configs and generated FreiHAND-layout data (stand-in hand, not MANO)."""
import pytest

TINY_VIT = dict(type='mmpretrain.VisionTransformer',
                arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
                img_size=64, patch_size=16, out_type='featmap', drop_path_rate=0.0)


def tiny_model(backbone=None, in_channels=32, **head):
    head_cfg = dict(type='PyMAFMANOHead', in_channels=in_channels, input_size=(64, 64),
                    deconv_channels=(32, 32, 32), point_channels=(16, 8, 5), grid_size=5,
                    hidden=128, dropout=0.0,
                    mano=dict(type='MANOLayer', model_path='standin'))
    head_cfg.update(head)
    return dict(type='HandMeshEstimator',
                data_preprocessor=dict(type='PoseDataPreprocessor',
                                       mean=[123.675, 116.28, 103.53],
                                       std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
                backbone=backbone or TINY_VIT, head=head_cfg)


def pipeline(train):
    aug = [dict(type='RandomBBoxTransform', shift_factor=0.05, scale_factor=(0.9, 1.1),
                rotate_factor=60.0, rotate_prob=1.0)] if train else []
    return [dict(type='LoadImage'), dict(type='GetBBoxCenterScale', padding=1.0), *aug,
            dict(type='MeshTopdownAffine', input_size=(64, 64)), dict(type='PackMeshInputs')]


@pytest.fixture(scope='session')
def freihand_small(tmp_path_factory):
    from mmhandmim.standin.generation import generate_freihand
    root = tmp_path_factory.mktemp('freihand_small')
    generate_freihand(str(root), num_train=32, num_eval=8, versions=1, img_size=96, seed=2,
                      progress=False)
    return str(root)
