# ViT-B/16 initialised from HandMIM-B pre-training (configs/handmim_vit-b.py, teacher
# backbone extracted to work_dirs/handmim_vit-b/backbone.pth), PyMAF-MANO head, FreiHAND.
# Paper Table 1, HandMIM-Base: PA-MPVPE 6.47 mm, PA-MPJPE 6.44 mm, F@5 0.731, F@15 0.985.
# Status: not yet trained on real data.
# Batch: 16 per GPU x 8 GPUs = 128 in total (the paper's fine-tuning batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = [
    '../_base_/default_runtime_mesh.py', '../_base_/models/mesh_vit-b_pymaf.py',
    '../_base_/datasets/freihand_mesh.py', '../_base_/schedules/mesh_adam_100e.py'
]
pretrained = 'work_dirs/handmim_vit-b/backbone.pth'
model = dict(backbone=dict(
    init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
default_hooks = dict(checkpoint=dict(save_best='mesh/pa_mpjpe', rule='less'))
