# HandMIM pre-training, ViT-L/16 (1024 wide, 24 blocks; the decoder fuses blocks
# 6/12/18/24), 250 epochs, 8 GPUs x 128. Drop-path 0.3 (iBOT ViT-L practice; the paper is
# silent). Fine-tuned on FreiHAND: PA-MPJPE 6.19 / PA-MPVPE 6.29 mm (paper Table 1).
#   tools/dist_train.sh configs/handmim_vit-l.py 8 --amp
# Batch: 128 per GPU x 8 GPUs = 1024 in total (the paper's pre-training batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
# with_cp (activation checkpointing, off): each of the 24 blocks keeps only its input and is
# run again in the backward pass. The student's block activations kept for backward shrink
# from ~300 to ~20 MiB per 224 px view (float32, bytes of the tensors autograd saves),
# for one more forward of the blocks per step (roughly a third more compute). Same losses
# and gradients. Switch it on when a batch of 128 does not fit:
#   --cfg-options model.backbone.with_cp=True
_base_ = ['handmim_vit-s.py']
embed_dims = 1024
max_epochs = 250
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.3, with_cp=False),
    projection_head=dict(in_channels=embed_dims),
    decoder=dict(in_channels=embed_dims))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 10, eta_min=1e-6, by_epoch=True,
         begin=10, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=max_epochs, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
