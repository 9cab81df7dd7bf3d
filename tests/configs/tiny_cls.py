# A tiny image classifier built only from stock mmpretrain modules, used to prove the
# tools (train/resume/test/dist) before our own models exist. Data: a generated folder
# with one sub-folder per class (tests/helpers/image_folders.py).
_base_ = ['../../configs/_base_/default_runtime_pretrain.py']

data_root = 'data/tiny_shapes'
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', num_classes=2,
                           mean=[127.5, 127.5, 127.5], std=[64.0, 64.0, 64.0], to_rgb=True),
    backbone=dict(
        type='VisionTransformer',
        arch=dict(embed_dims=32, num_layers=2, num_heads=2, feedforward_channels=64),
        img_size=32, patch_size=8, drop_path_rate=0.1, drop_rate=0.1),
    neck=None,
    head=dict(type='VisionTransformerClsHead', num_classes=2, in_channels=32,
              loss=dict(type='CrossEntropyLoss')))

pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='train',
                 pipeline=pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='val',
                 pipeline=pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=4, by_epoch=True, eta_min=1e-5)]
train_cfg = dict(by_epoch=True, max_epochs=4, val_interval=2)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=1, max_keep_ckpts=-1))
