# mmhandmim's modules from an ordinary mmpose config: mmpose's top-down 2D hand keypoint
# recipe (configs/hand_2d_keypoint/topdown_heatmap/freihand2d, its transforms, MSRAHeatmap
# codec, PCK/AUC/EPE metrics) with mmhandmim's FreiHANDMeshDataset (the FreiHAND_pub_v2
# download, its projected 21 joints as 2D keypoints) and an mmpretrain ViT-S/16 initialised
# from a HandMIM-S backbone (tools/model_converters/extract_handmim_backbone.py), ViTPose
# simple style: the 14x14 patch-token map -> 2 deconvolutions -> 56x56 heatmaps.
# Status: not yet trained on real data.
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(imports=['mmhandmim'], allow_failed_imports=False)

# runtime
train_cfg = dict(max_epochs=100, val_interval=10)

# optimizer
optim_wrapper = dict(optimizer=dict(type='Adam', lr=5e-4))

# learning policy
param_scheduler = [
    dict(type='LinearLR', begin=0, end=500, start_factor=0.001, by_epoch=False),  # warm-up
    dict(type='MultiStepLR', begin=0, end=100, milestones=[50, 70], gamma=0.1, by_epoch=True)
]

# automatically scaling LR based on the actual training batch size
auto_scale_lr = dict(base_batch_size=512)

# hooks
default_hooks = dict(checkpoint=dict(save_best='AUC', rule='greater', interval=10))

# codec settings
codec = dict(type='MSRAHeatmap', input_size=(224, 224), heatmap_size=(56, 56), sigma=2)

# model settings
embed_dims = 384
pretrained = 'work_dirs/handmim_vit-s/backbone.pth'
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='mmpretrain.VisionTransformer',
        arch='deit-small',  # ViT-S: 384 dims, 12 layers, 6 heads
        img_size=224,
        patch_size=16,
        out_type='featmap',  # patch tokens as a (384, 14, 14) map
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(
        type='HeatmapHead',
        in_channels=embed_dims,
        out_channels=21,
        deconv_out_channels=(256, 256),  # 14 -> 28 -> 56
        deconv_kernel_sizes=(4, 4),
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))

# base dataset settings: FreiHAND_pub_v2 as downloaded (see README "Data preparation")
dataset_type = 'FreiHANDMeshDataset'
data_root = 'data/freihand/'

# pipelines (mmpose's own transforms)
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=0.8),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomBBoxTransform', shift_factor=0.25, rotate_factor=180,
         scale_factor=(0.7, 1.3)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=0.8),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]

# data loaders: the whole 224x224 image as the box (bbox_source='image', as mmpose's
# FreiHandDataset); the evaluation split's public ground truth for validation and testing
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='training',
        bbox_source='image',
        pipeline=train_pipeline,
    ))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='evaluation',
        bbox_source='image',
        test_mode=True,
        pipeline=val_pipeline,
    ))
test_dataloader = val_dataloader

# evaluators
val_evaluator = [
    dict(type='PCKAccuracy', thr=0.2),
    dict(type='AUC'),
    dict(type='EPE'),
]
test_evaluator = val_evaluator
