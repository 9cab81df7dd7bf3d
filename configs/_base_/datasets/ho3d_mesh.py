# HO3D v2 for mesh fine-tuning: the 66,034 training images (640x480), hand crops around the
# projected ground-truth joints; testing on the 11,524 evaluation images, cropped around the
# hand box HO3D ships in each evaluation meta file. HO3D publishes no 3D ground truth for its
# evaluation split, so the test evaluator only writes the Codalab submission (pred.json +
# pred.zip, HO3D joint order, OpenGL frame) and there is no validation during training.
#
# Leaf configs that use this file must also set (mmengine forbids duplicate keys among bases,
# and these live in the runtime / model bases):
#   val_cfg = None                                     (no validation: no ground truth)
#   test_evaluator = dict(outfile_dir=<work_dirs/CONFIG_NAME/submission>)  (the predefined
#       variable fileBasenameNoExtension in double braces gives the config's name)
#   model = dict(head=dict(mano=dict(flat_hand_mean=True, fingertip_ids='ho3d')))
# The last line matters: HO3D's MANO parameters are stored with flat_hand_mean=True (its
# official forwardKinematics loads MANO with flat_hand_mean=True) and its joints use HO3D's
# fingertip vertices (744, 333, 444, 555, 672); check a download with
#   python tools/analysis/check_mano_integrity.py ho3d data/ho3d
#
# Crop padding 1.5 around the joints' box (training) and around HO3D's hand box (testing)
# follows HandOccNet's HO3D pipeline (the paper is silent). HO3D v3 (jpg images, 83,325 /
# 20,137 images): set version='v3' and its data_root in both datasets (see
# configs/mesh/handmim-s_pymaf_ho3dv3.py). With the evaluation ground truth in the root
# (evaluation_xyz.json, evaluation_verts.json) the metrics can be computed in the loop:
#   --cfg-options test_evaluator.format_only=False
data_root = 'data/ho3d/'
ho3d_version = 'v2'
input_size = (224, 224)

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.5),
    dict(type='RandomBBoxTransform', shift_factor=0.1, scale_factor=(0.8, 1.2),
         rotate_factor=60.0, rotate_prob=0.5),
    dict(type='MeshTopdownAffine', input_size=input_size),
    dict(type='PhotometricDistortion'),
    dict(type='PackMeshInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale', padding=1.5),
    dict(type='MeshTopdownAffine', input_size=input_size),
    dict(type='PackMeshInputs'),
]

train_dataloader = dict(
    # per GPU: 8 GPUs x 16 = the paper's fine-tuning batch of 128 (auto_scale_lr's base).
    # 10 workers (a GPU's share of a typical node, less the main process) feed ~3,500
    # images/s (2.8 ms per image per core, benchmarks/bench_data_pipeline.py): enough for
    # ViT-B/L at 40 % MFU of an H100 (~3,700 / 1,100); ViT-S (~13,500) waits on data, but
    # the whole 100 epochs are ~10 core-hours (about 6 minutes of a 96-core node).
    batch_size=16, num_workers=10, persistent_workers=True, pin_memory=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='HO3DMeshDataset', data_root=data_root, split='train',
                 version=ho3d_version, pipeline=train_pipeline))
val_dataloader = None
val_evaluator = None
test_dataloader = dict(
    batch_size=64, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='HO3DMeshDataset', data_root=data_root, split='evaluation',
                 version=ho3d_version, test_mode=True, pipeline=test_pipeline))
# outfile_dir: placeholder, every leaf sets its own (work_dirs/<config name>/submission);
# overwrite: re-testing a config replaces its own earlier submission
test_evaluator = dict(
    type='HandMeshMetric', protocol='ho3d', format_only=True,
    outfile_dir='work_dirs/ho3d_mesh/submission', overwrite=True,
    metric_keys=('pa_mpjpe', 'pa_mpvpe', 'mpjpe', 'st_mpjpe', 'mpvpe', 'pa_f5', 'pa_f15', 'f5',
                 'f15', 'pa_auc_j', 'pa_auc_v'))
