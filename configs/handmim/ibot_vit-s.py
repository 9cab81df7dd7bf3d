# The iBOT baseline of the paper's Table 3: HandMIM with pose-aware alignment and pixel
# reconstruction off (cross-view class-token distillation + masked patch distillation).
# It inherits HandMIM's data pipeline on purpose, so that Table 3 compares the losses and not
# the augmentation: rotations up to +-150 deg, no horizontal flip (it would turn right hands
# into left ones), no local crops. Official iBOT uses flips, no rotation and 10 local crops.
# Batch: 128 per GPU x 8 GPUs = 1024 in total (the paper's pre-training batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['../handmim_vit-s.py']
model = dict(use_pose_alignment=False, loss_weights=dict(pose=1.0, patch=1.0, recon=0.0))
