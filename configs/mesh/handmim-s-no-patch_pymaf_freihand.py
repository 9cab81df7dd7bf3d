# Table 5 ablation: ViT-S/16 initialised from HandMIM-S pre-trained without L_patch
# (configs/handmim/handmim_vit-s_no-patch.py, teacher backbone extracted to
# work_dirs/handmim_vit-s_no-patch/backbone.pth), PyMAF-MANO head, FreiHAND.
# Paper Table 5, without L_patch: PA-MPVPE 6.90 mm, PA-MPJPE 6.85 mm, F@5 0.708, F@15 0.981.
# Status: not yet trained on real data.
# Batch: 16 per GPU x 8 GPUs = 128 in total (the paper's fine-tuning batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['./handmim-s_pymaf_freihand.py']
model = dict(backbone=dict(
    init_cfg=dict(checkpoint='work_dirs/handmim_vit-s_no-patch/backbone.pth')))
