# Table 5 ablation: without L_recon (pose-aware alignment + patch distillation only).
_base_ = ['../handmim_vit-s.py']
model = dict(loss_weights=dict(pose=1.0, patch=1.0, recon=0.0))
