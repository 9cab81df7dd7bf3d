# Table 5 ablation: without L_patch (pose-aware alignment + pixel reconstruction only).
_base_ = ['../handmim_vit-s.py']
model = dict(loss_weights=dict(pose=1.0, patch=0.0, recon=1.0))
