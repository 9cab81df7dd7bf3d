# Table 5 ablation: without L_recon (pose-aware alignment + patch distillation only).
# Batch: 128 per GPU x 8 GPUs = 1024 in total (the paper's pre-training batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['../handmim_vit-s.py']
model = dict(loss_weights=dict(pose=1.0, patch=1.0, recon=0.0))
