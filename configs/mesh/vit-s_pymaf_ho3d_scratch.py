# Baseline without pre-training: ViT-S/16 (DeiT-small) from random initialisation (DeiT's
# truncated-normal init), PyMAF-MANO head, HO3D v2; same schedule as the HandMIM configs.
# Paper Table 2, ViT-Small: PA-MPVPE 8.78 mm, PA-MPJPE 9.18 mm, MPJPE 26.37 mm, F@5 0.567,
# F@15 0.963 (Table 3 lists ViT-S on HO3Dv2 as 8.71 / 9.05 mm, F@5 0.571, F@15 0.965).
# Scored by the HO3D Codalab server from work_dirs/vit-s_pymaf_ho3d_scratch/submission/pred.zip.
# The paper does not say how its baseline was initialised; read as from scratch.
# Status: not yet trained on real data.
# Batch: 16 per GPU x 8 GPUs = 128 in total (the paper's fine-tuning batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['./handmim-s_pymaf_ho3d.py']
model = dict(backbone=dict(init_cfg=[
    dict(type='TruncNormal', layer='Linear', std=.02),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
]))
test_evaluator = dict(outfile_dir='work_dirs/{{fileBasenameNoExtension}}/submission')
