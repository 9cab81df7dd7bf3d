# The demo's fine-tuning: the mesh estimator of configs/mesh/ shrunk to the demo's tiny ViT
# (initialised from the demo pre-training's teacher backbone) on the generated
# FreiHAND-layout data with the stand-in hand model (not MANO), 64 px crops.
# Batch: 32 per GPU x 1 GPU = 32 in total (the demo runs in one process); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['../mesh/handmim-s_pymaf_freihand.py']
embed_dims = 96
input_size = (64, 64)
max_epochs = 14
data_root = 'work_dirs/demo/data/freihand/'
model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=3,
                            feedforward_channels=192), img_size=64, patch_size=8,
                  drop_path_rate=0.0,
                  init_cfg=dict(type='Pretrained', checkpoint='work_dirs/demo/backbone.pth',
                                prefix='backbone.')),
    # pyramid 8 -> 16 -> 32 -> 64 px; (64, 64, 64) made the last stage cost ~1 s a step
    head=dict(in_channels=embed_dims, input_size=input_size, deconv_channels=(64, 32, 16),
              point_channels=(32, 16, 5), grid_size=9, hidden=256, dropout=0.1,
              mano=dict(model_path='standin')))
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.0),
    dict(type='RandomBBoxTransform', shift_factor=0.05, scale_factor=(0.9, 1.1),
         rotate_factor=30.0, rotate_prob=0.5),
    dict(type='MeshTopdownAffine', input_size=input_size),
    dict(type='PhotometricDistortion'),
    dict(type='PackMeshInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.0),
    dict(type='MeshTopdownAffine', input_size=input_size),
    dict(type='PackMeshInputs'),
]
# no loader workers on 2 cores: measured 0.59 s per step against 0.85 with 2 workers (they
# compete with the 2 training threads) and 1.5 with 1 persistent worker
train_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, image_versions=('gs', 'hom'), image_size=128,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, image_size=128, pipeline=test_pipeline))
test_dataloader = val_dataloader
# the model next to the trivial baselines (the constant hand; run_demo.sh adds the training
# set's mean pose with test_evaluator.baselines.mean_params=...)
val_evaluator = dict(baselines=dict(mano=dict(type='MANOLayer', model_path='standin')))
test_evaluator = val_evaluator
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=5),
                     checkpoint=dict(interval=max_epochs, max_keep_ckpts=1, save_best=None))

# the demo lr is tuned for its one-process batch of 32 (see the header)
auto_scale_lr = dict(base_batch_size=32, enable=False)
