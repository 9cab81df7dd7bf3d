# Table 5 ablation: without L_pose (patch distillation + pixel reconstruction only).
_base_ = ['../handmim_vit-s.py']
model = dict(loss_weights=dict(pose=0.0, patch=1.0, recon=1.0))
