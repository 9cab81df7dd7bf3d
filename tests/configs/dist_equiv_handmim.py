# The demo pre-training (configs/demo/handmim_vit-tiny_demo.py: model, losses, hooks,
# optimizer, schedule) made comparable between 1 process x batch 2b and 2 processes x batch b
# (tests/test_distributed/test_equivalence.py sets the batch size and data root):
# * every sample's random views and masks are drawn from a generator seeded by its index
#   (SeedRNGPerSample), not from the process's / worker's generator;
# * masks are 'random' with a fixed ratio, so every view masks the same number of patches:
#   the masked-L1 loss is normalised by each process's masked-pixel count, and only with equal
#   counts is the mean of the 2 processes' losses the 1-process loss;
# * shuffling with an explicit sampler seed: DefaultSampler deals the same permutation to
#   the ranks round-robin, so a 1-process batch is the union of the 2 ranks' batches;
# * no dropout or drop-path (the demo has none), no dataloader workers.
_base_ = ['../../configs/demo/handmim_vit-tiny_demo.py']
custom_imports = dict(imports=['mmhandmim', 'tests.test_distributed.helpers'],
                      allow_failed_imports=False)
# patch 16 (4x4 tokens, 4 decoder stages) as before the demo moved to patch 8: this test
# checks the distributed reduction, and 4x the tokens put one float32 weight 1.8e-5 off
model = dict(backbone=dict(drop_path_rate=0.0, patch_size=16, level_indices=[0, 1, 2, 3]),
             decoder=dict(channels=(64, 32, 32, 16)))
train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
    dataset=dict(pipeline=[
        dict(type='SeedRNGPerSample', seed=0),
        dict(type='LoadHandCrop', padding=1.25, out_size=80),
        dict(type='HandMultiView', num_views=2, view_size=64, patch_size=16,
             crop_scale=(0.3, 1.0), rotation=(0., 150.), random_rotation_sign=True,
             num_local_views=0, mask_ratio=(0.25, 0.25), mask_prob=1.0, mask_shape='random'),
        dict(type='PackInputs', algorithm_keys=['view_geometry'], meta_keys=['img_path'])]))
train_cfg = dict(max_epochs=2)
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=1, max_keep_ckpts=-1))
# Adam's eps 1e-6 instead of 1e-8: an element whose exact gradient cancels to ~0 gets float
# rounding noise (~1e-9) that depends on the summation order (two processes' average vs one
# batch), and with eps 1e-8 Adam normalises that noise into a step of up to lr. The fused
# AdamW kernel rounds the update differently from the foreach one and one prototype weight
# came out 2.5e-5 apart. With 1e-6 such noise moves a weight by <1e-3 of a step, while every
# gradient this test is about (>1e-5) is still normalised as in training.
optim_wrapper = dict(optimizer=dict(eps=1e-6))
