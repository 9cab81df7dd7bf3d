# ViT-L/16 initialised from HandMIM-L pre-training (configs/handmim_vit-l.py, teacher
# backbone extracted to work_dirs/handmim_vit-l/backbone.pth), PyMAF-MANO head, FreiHAND.
# Paper Table 1, HandMIM-Large: PA-MPVPE 6.29 mm, PA-MPJPE 6.19 mm, F@5 0.744, F@15 0.986.
# Status: not yet trained on real data.
# Batch: 16 per GPU x 8 GPUs = 128 in total (the paper's fine-tuning batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
# Activation checkpointing (off; see _base_/models/mesh_vit-l_pymaf.py): each block is
# recomputed in the backward pass, ~300 -> ~20 MiB of kept activations per 224 px image for
# about a third more compute. Switch it on when a batch does not fit:
#   --cfg-options model.backbone.with_cp=True
_base_ = [
    '../_base_/default_runtime_mesh.py', '../_base_/models/mesh_vit-l_pymaf.py',
    '../_base_/datasets/freihand_mesh.py', '../_base_/schedules/mesh_adam_100e.py'
]
pretrained = 'work_dirs/handmim_vit-l/backbone.pth'
model = dict(backbone=dict(
    init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
default_hooks = dict(checkpoint=dict(save_best='mesh/pa_mpjpe', rule='less'))
