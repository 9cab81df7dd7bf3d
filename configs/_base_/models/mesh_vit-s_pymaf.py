# ViT-S/16 + PyMAF-style MANO head (paper section 2.5): the ViT token grid (14x14) goes
# through 3 deconvolution stages (28, 56, 112), one per feedback iteration; iteration 0
# samples a 21x21 grid, later ones the projected 21 keypoints. Channels halve with each
# doubling of resolution (96, 48, 24): PyMAF's 256 at every stage starts from a 7x7 ResNet
# map; from ViT's 14x14 grid it would cost 8.8 GFLOPs per image, more than the ViT-S backbone
# (8.5); these cost 0.46, keeping head + MANO under 15 % of the ViT-S forward even at batch 1
# on CPU (benchmarks/bench_mesh_inference.py; (128, 64, 32) measured 15.6 %). Every point
# feature is reduced to 5 channels either way. Loss weights: 3D keypoints and vertices
# (L1, metres) 1.0, 2D reprojection 0.2, MANO rotations + 0.5 x betas 1.0, camera 1.0; the
# regressor has a ReLU after each fc (PyMAF's is linear; see pymaf_mano_head.py for the
# measured reason). With HaMeR's ratio
# (MANO 0.02) the 3D losses, dominated by the global orientation early on, first bend the
# fingers: on 32 generated samples PA-MPJPE rose 15 -> 37 mm before falling, and 700 steps
# fitted 3.4x instead of 9.5x (tests/test_mesh/test_overfit.py).
embed_dims = 384
model = dict(
    type='HandMeshEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(type='mmpretrain.VisionTransformer', arch='deit-small', img_size=224,
                  patch_size=16, out_type='featmap', drop_path_rate=0.1),
    # mean_params=None starts iteration 0 from the head's documented fallback (MANO's
    # hands_mean fingers, identity global orientation, zero betas, camera (10, 0, 0)). For
    # PyMAF-style dataset means, run (with the MANO model the head uses)
    #   python tools/misc/compute_mean_mano_params.py CONFIG --out data/mean_mano_params.npz
    # and set model.head.mean_params to that file (it is not shipped: MANO is licence-gated).
    head=dict(
        type='PyMAFMANOHead', in_channels=embed_dims, input_size=(224, 224),
        num_iterations=3, deconv_channels=(96, 48, 24), point_channels=(128, 64, 5),
        grid_size=21, num_vertex_samples=0, hidden=1024, dropout=0.5, mean_params=None,
        # real MANO: put MANO_RIGHT.pkl in data/mano (see README "Data preparation")
        mano=dict(type='MANOLayer', model_path='data/mano', keypoint_order='freihand',
                  flat_hand_mean=False),
        loss_mano=dict(type='MANOParamLoss', loss_weight=1.0, betas_weight=0.5),
        loss_vert=dict(type='RootRelativeL1Loss', loss_weight=1.0),
        loss_kpt3d=dict(type='RootRelativeL1Loss', loss_weight=1.0),
        loss_kpt2d=dict(type='Keypoint2DReprojectionLoss', loss_weight=0.2),
        # L_MANO's translation term (eq. 11 is over theta, beta, t): log-depth + in-plane
        # offset of the weak-perspective camera; without it depth is learned only through
        # the 2D loss (the demo's root ended 308 mm too far)
        loss_cam=dict(type='WeakCameraLoss', loss_weight=1.0),
        # auxiliary 2D keypoint heatmaps on the finest map (training only; PyMAF supervises
        # that map densely too). Measured from scratch with the demo's ViT on 2,048 generated
        # frames (a training loop on cached crops, 1,000 steps; issue 14's note): PA-MPJPE
        # 14.35 mm against 15.29 without it, MPJPE 76 against 91 mm
        loss_heatmap=dict(type='KeypointHeatmapLoss', loss_weight=1.0, sigma=2.0)))
