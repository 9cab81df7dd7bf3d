# MIM baseline: ViT-S/16 initialised from the iBOT pre-training of configs/handmim/ibot_vit-s.py
# (same data and schedule as HandMIM-S, pose alignment and pixel reconstruction off; teacher
# backbone extracted to work_dirs/ibot_vit-s/backbone.pth), PyMAF-MANO head, FreiHAND.
# Paper Table 3, ViT-S + iBOT (FH): PA-MPVPE 6.98 mm, PA-MPJPE 6.98 mm, F@5 0.704, F@15 0.979.
# Status: not yet trained on real data.
# Batch: 16 per GPU x 8 GPUs = 128 in total (the paper's fine-tuning batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['./handmim-s_pymaf_freihand.py']
model = dict(backbone=dict(init_cfg=dict(checkpoint='work_dirs/ibot_vit-s/backbone.pth')))
