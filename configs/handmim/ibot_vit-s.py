# The iBOT baseline of the paper's Table 3: HandMIM with pose-aware alignment and pixel
# reconstruction off (cross-view class-token distillation + masked patch distillation).
_base_ = ['../handmim_vit-s.py']
model = dict(use_pose_alignment=False, loss_weights=dict(pose=1.0, patch=1.0, recon=0.0))
