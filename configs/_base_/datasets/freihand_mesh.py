# FreiHAND v2 for mesh fine-tuning: all 4 renderings of the training frames, 224x224 crops
# with random scale, shift, in-plane rotation (3D targets, MANO and K follow) and colour
# jitter; evaluation on the 3,960 public evaluation images (ground truth is public).
data_root = 'data/freihand/'
input_size = (224, 224)

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.0),
    dict(type='RandomBBoxTransform', shift_factor=0.1, scale_factor=(0.8, 1.2),
         rotate_factor=60.0, rotate_prob=0.5),
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

train_dataloader = dict(
    # per GPU: 8 GPUs x 16 = the paper's fine-tuning batch of 128 (auto_scale_lr's base).
    # 10 workers (a GPU's share of a typical node, less the main process) feed ~3,500
    # images/s (2.8 ms per image per core, benchmarks/bench_data_pipeline.py): enough for
    # ViT-B/L at 40 % MFU of an H100 (~3,700 / 1,100); ViT-S (~13,500) waits on data, but
    # the whole 100 epochs are ~10 core-hours (about 6 minutes of a 96-core node).
    batch_size=16, num_workers=10, persistent_workers=True, pin_memory=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='FreiHANDMeshDataset', data_root=data_root, split='training',
                 image_versions=('gs', 'hom', 'sample', 'auto'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='FreiHANDMeshDataset', data_root=data_root, split='evaluation',
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='HandMeshMetric', protocol='freihand')
test_evaluator = val_evaluator
