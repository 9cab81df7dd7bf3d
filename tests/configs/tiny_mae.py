# A tiny MAE (stock mmpretrain modules) on a generated image folder: self-supervised
# pre-training through tools/train.py before HandMIM exists.
_base_ = ['../../configs/_base_/default_runtime_pretrain.py']

data_root = 'data/tiny_shapes'
model = dict(
    type='MAE',
    data_preprocessor=dict(type='SelfSupDataPreprocessor', mean=[127.5, 127.5, 127.5],
                           std=[64.0, 64.0, 64.0], to_rgb=True),
    backbone=dict(type='MAEViT', arch=dict(embed_dims=32, num_layers=2, num_heads=2,
                                           feedforward_channels=64),
                  img_size=32, patch_size=8, mask_ratio=0.75),
    neck=dict(type='MAEPretrainDecoder', num_patches=16, patch_size=8, in_chans=3,
              embed_dim=32, decoder_embed_dim=32, decoder_depth=1, decoder_num_heads=2,
              mlp_ratio=2.),
    head=dict(type='MAEPretrainHead', norm_pix=True, patch_size=8,
              loss=dict(type='PixelReconstructionLoss', criterion='L2')))

train_dataloader = dict(
    batch_size=4, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type='CustomDataset', data_root=data_root, data_prefix='train',
                 with_label=False,
                 pipeline=[dict(type='LoadImageFromFile'),
                           dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.5, 1.)),
                           dict(type='PackInputs')]))

optim_wrapper = dict(optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95),
                                    weight_decay=0.05))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=8, by_epoch=False, eta_min=1e-5)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=8)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=4, by_epoch=False))
