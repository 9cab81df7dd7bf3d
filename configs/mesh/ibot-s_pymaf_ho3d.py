# MIM baseline: ViT-S/16 initialised from the iBOT pre-training of configs/handmim/ibot_vit-s.py
# (teacher backbone extracted to work_dirs/ibot_vit-s/backbone.pth), PyMAF-MANO head, HO3D v2.
# Paper Table 3, ViT-S + iBOT (HO3Dv2): PA-MPVPE 8.56 mm, PA-MPJPE 8.84 mm, F@5 0.581,
# F@15 0.966, scored by the HO3D Codalab server from
# work_dirs/ibot-s_pymaf_ho3d/submission/pred.zip.
# Status: not yet trained on real data.
# Batch: 16 per GPU x 8 GPUs = 128 in total (the paper's fine-tuning batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['./handmim-s_pymaf_ho3d.py']
model = dict(backbone=dict(init_cfg=dict(checkpoint='work_dirs/ibot_vit-s/backbone.pth')))
test_evaluator = dict(outfile_dir='work_dirs/{{fileBasenameNoExtension}}/submission')
