# HandMIM with a ViT-S/16 (DeiT-small: 384 wide, 12 blocks, 6 heads). iBOT head values:
# 3-layer MLP, hidden 2048, bottleneck 256 (read as 128 2D pseudo-keypoints), 8192
# weight-normalised prototypes shared by class and patch tokens; student temperature 0.1.
# The pyramid decoder fuses blocks 3/6/9/12 and upsamples x16 with 4 transposed convs.
embed_dims = 384
model = dict(
    type='HandMIM',
    # SelfSupDataPreprocessor that also makes the views of device-augmented batches (see
    # _base_/datasets/handmim_pretrain.py); CPU-made views pass through unchanged
    data_preprocessor=dict(type='HandViewDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], to_rgb=True),
    backbone=dict(type='HandMIMViT', arch='deit-small', img_size=224, patch_size=16,
                  drop_path_rate=0.1),
    projection_head=dict(type='HandMIMProjectionHead', in_channels=embed_dims, out_dim=8192,
              hidden_dim=2048, bottleneck_dim=256, num_layers=3, shared_patch_head=True),
    distill_loss=dict(type='HandMIMDistillLoss', out_dim=8192, student_temp=0.1, teacher_temp=0.04,
              teacher_patch_temp=0.04, center_momentum=0.9),
    decoder=dict(type='PyramidPixelDecoder', in_channels=embed_dims,
                 channels=(256, 128, 64, 32)),
    use_pose_alignment=True,
    # eq. 4 on the centred pseudo points, after a running centre of the teacher bottlenecks
    # is removed (docs/method.md); dict(mode='eq4', center_momentum=None) is the literal
    # reading, whose output is the crop position (L_pose collapses to ln K)
    pose_alignment=dict(mode='centred', center_momentum=0.9),
    loss_weights=dict(pose=1.0, patch=1.0, recon=1.0))
