# The paper's pre-training schedule (iBOT values where the paper is silent): AdamW, lr 2e-3 at
# total batch 1024, 10 warm-up epochs then cosine to 1e-6, weight decay cosine 0.04 -> 0.4,
# gradient clipping 3.0; no weight decay on norms, biases, position embedding and tokens.
# Mixed precision as iBOT trains (the paper is silent), written as mmpretrain does. float16 +
# dynamic loss scale runs on any CUDA GPU; on A100/H100/H200 prefer dtype='bfloat16'
# (train.py --amp-dtype bfloat16): float32's range, so no loss scale is needed (the dynamic
# one is harmless).
# Without a CUDA device tools/train.py falls back to OptimWrapper (float32).
# fused=True: torch's fused AdamW kernel (one call per parameter group instead of a foreach
# sequence of ops; paramwise_cfg makes one group per parameter, 185 for HandMIM ViT-S); the
# same update up to float rounding. On CPU (2 threads) 33 ms per step against 61 ms foreach.
# torch 2.13 (requirements/torch.txt) has it on CUDA and CPU; it works with clipping and with
# AmpOptimWrapper's GradScaler (which hands the kernel the scale and the inf/NaN flag; a step
# with inf/NaN gradients is skipped).
# An optimizer type without `fused` (set with --cfg-options) needs
# optim_wrapper.optimizer.fused=None as well.
max_epochs = 400
warmup_epochs = 10

optim_wrapper = dict(
    type='AmpOptimWrapper',
    loss_scale='dynamic',
    dtype='float16',
    optimizer=dict(type='AdamW', lr=2e-3, betas=(0.9, 0.999), weight_decay=0.04,
                   fused=True),
    clip_grad=dict(max_norm=3.0),
    paramwise_cfg=dict(
        norm_decay_mult=0.0, bias_decay_mult=0.0,
        custom_keys={'pos_embed': dict(decay_mult=0.), 'cls_token': dict(decay_mult=0.),
                     'mask_token': dict(decay_mult=0.)}))

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=warmup_epochs,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - warmup_epochs, eta_min=1e-6,
         by_epoch=True, begin=warmup_epochs, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=max_epochs, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]

train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# lr above is for 1024 images per step; --auto-scale-lr rescales it to your total batch
auto_scale_lr = dict(base_batch_size=1024, enable=False)

custom_hooks = [
    # EMA teacher: momentum cosine 0.996 -> 1 over all iterations, after each optimizer step
    dict(type='TeacherEMAHook', momentum=0.996, end_momentum=1.0),
    # teacher temperature 0.04 -> 0.07 over the first 30 epochs (class and patch outputs)
    dict(type='TeacherTempHook', warmup_temp=0.04, temp=0.07, warmup_epochs=30),
    # prototypes (last layer of the projection head) frozen during the first epoch
    dict(type='FreezeLastLayerHook', freeze_epochs=1),
    # warns when L_pose stays at ln K (a collapsed, uniform class-token target) after epoch 1
    dict(type='PoseCollapseMonitorHook', tolerance=0.05, window=50),
]
