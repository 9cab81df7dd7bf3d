# ViT-S initialised from HandMIM-S pre-training (teacher backbone extracted with
# tools/model_converters/extract_handmim_backbone.py), PyMAF-MANO head, FreiHAND.
# Paper Table 1 target: PA-MPJPE 6.57 mm, PA-MPVPE 6.57 mm. Status: not yet trained on
# real data.
# Batch: 16 per GPU x 8 GPUs = 128 in total (the paper's fine-tuning batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = [
    '../_base_/default_runtime_mesh.py', '../_base_/models/mesh_vit-s_pymaf.py',
    '../_base_/datasets/freihand_mesh.py', '../_base_/schedules/mesh_adam_100e.py'
]
pretrained = 'work_dirs/handmim_vit-s/backbone.pth'
model = dict(backbone=dict(
    init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
train_cfg = dict(by_epoch=True, max_epochs=100, val_interval=10)
default_hooks = dict(checkpoint=dict(save_best='mesh/pa_mpjpe', rule='less'))
