# Table 5 ablation: ViT-S/16 initialised from HandMIM-S pre-trained without L_recon
# (configs/handmim/handmim_vit-s_no-recon.py, teacher backbone extracted to
# work_dirs/handmim_vit-s_no-recon/backbone.pth), PyMAF-MANO head, FreiHAND.
# Paper Table 5, without L_recon: PA-MPVPE 6.76 mm, PA-MPJPE 6.74 mm, F@5 0.715, F@15 0.982.
# Status: not yet trained on real data.
# Batch: 16 per GPU x 8 GPUs = 128 in total (the paper's fine-tuning batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['./handmim-s_pymaf_freihand.py']
model = dict(backbone=dict(
    init_cfg=dict(checkpoint='work_dirs/handmim_vit-s_no-recon/backbone.pth')))
