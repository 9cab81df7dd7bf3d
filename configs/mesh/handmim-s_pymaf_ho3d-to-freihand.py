# Table 4 cross-dataset: HandMIM-S fine-tuned on HO3D v2, tested on FreiHAND evaluation.
# Paper Table 4, HandMIM/ViT-S, Train HO3D / Test FH: PA-MPJPE 14.1 mm, MPJPE 29.74 mm
# (metric keys mesh/pa_mpjpe and mesh/mpjpe; FreiHAND's ground truth is public).
# Status: not yet trained on real data.
#
# Training is exactly handmim-s_pymaf_ho3d.py's (no validation), so that config's checkpoint
# can be tested here directly:
#   python tools/test.py configs/mesh/handmim-s_pymaf_ho3d-to-freihand.py CHECKPOINT
# Both datasets give FreiHAND-order keypoints in the OpenCV frame, so only the test side
# changes: FreiHAND's evaluation split and crops (configs/_base_/datasets/freihand_mesh.py)
# and the metric's protocol='freihand'. The model keeps HO3D's MANO conventions; HO3D's
# fingertips are vertices 333/444 (index/middle) where FreiHAND's ground truth uses 320/443:
# add --cfg-options model.head.mano.fingertip_ids=freihand to tools/test.py to score
# FreiHAND's tips.
# Batch: 16 per GPU x 8 GPUs = 128 in total (the paper's fine-tuning batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['./handmim-s_pymaf_ho3d.py']
freihand_root = 'data/freihand/'
freihand_test_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.0),
    dict(type='MeshTopdownAffine', input_size=(224, 224)),
    dict(type='PackMeshInputs'),
]
test_dataloader = dict(
    _delete_=True,
    batch_size=64, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='FreiHANDMeshDataset', data_root=freihand_root, split='evaluation',
                 test_mode=True, pipeline=freihand_test_pipeline))
test_evaluator = dict(_delete_=True, type='HandMeshMetric', protocol='freihand')
