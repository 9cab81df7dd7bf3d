# The paper's fine-tuning schedule: Adam, lr 4e-5 at batch 128, 100 epochs (section 3.2).
# (train_cfg/val_cfg/default_hooks live in the configs: mmpose's runtime defines them.)
# float32 (the paper is silent on fine-tuning precision); tools/train.py --amp (or
# --amp-dtype bfloat16) switches to AmpOptimWrapper. Under AMP the head's MANO layer, camera
# and projection still run in float32 (PyMAFMANOHead.decode).
# fused=True: torch's one-kernel Adam (see handmim_adamw_400e.py; CUDA and CPU on torch 2.13).
max_epochs = 100
optim_wrapper = dict(optimizer=dict(type='Adam', lr=4e-5, fused=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-7, by_epoch=True,
         begin=1, end=max_epochs, convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=128, enable=False)
