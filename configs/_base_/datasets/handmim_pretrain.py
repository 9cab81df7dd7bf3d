# HandMIM pre-training data: hand crops listed in one file (lines `path [x0 y0 x1 y1] [l|r]`),
# written by tools/dataset_converters/make_pretrain_crops.py from whichever sources you have
# (FreiHAND training, Youtube3DHands, COCO-WholeBody hand boxes, HO3D). The paper's mix is
# 221,602 crops. Left hands are flipped to right by LoadHandCrop.
data_root = 'data/handmim_crops/'

train_pipeline = [
    dict(type='LoadHandCrop', padding=1.25, out_size=256),
    # two global views (crop scale 0.08-1, rotation 0-150 deg, iBOT colour/blur/solarize),
    # each with its geometry (for pose-aware alignment) and its mask.
    # device_augment=True: the workers only draw each view's parameters and mask (~1.7 ms per
    # image per core instead of ~6.6); the warps and colour/blur/solarize run batched on the GPU
    # in HandViewDataPreprocessor (same parameters, the same views up to the warp's rounding:
    # tests/test_selfsup/test_device_augment.py). With the views made on the CPU a ViT-S GPU
    # would need ~28 cores. On CPU-only runs set device_augment=False (and the
    # algorithm_keys below to ['view_geometry']): the CPU path is faster there.
    dict(type='HandMultiView', num_views=2, view_size=224, patch_size=16,
         crop_scale=(0.08, 1.0), rotation=(0., 150.), random_rotation_sign=True,
         num_local_views=0, mask_ratio=(0.1, 0.5), mask_prob=0.5, mask_shape='block',
         device_augment=True),
    dict(type='PackInputs', algorithm_keys=['view_geometry', 'view_photometric', 'view_sizes'],
         meta_keys=['img_path']),
]

train_dataloader = dict(
    batch_size=128,  # per GPU: 8 GPUs x 128 = the paper's 1024
    # with the views made on the GPU a worker prepares ~590 images/s (1.7 ms per image per
    # core): ViT-S at 40 % MFU of an H100 (~4,300 images/s) needs ~8 workers, ViT-B ~3, ViT-L
    # 1 (benchmarks/bench_data_pipeline.py); 10 leaves the main process a core of 12
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='UnlabeledHandDataset',
        data_root=data_root,
        ann_file='list.txt',
        data_prefix=dict(img_path=''),
        skip_bad_images=True,  # a corrupt crop is logged with its path and replaced
        pipeline=train_pipeline))
