# Baseline without pre-training: ViT-L/16 from random initialisation (DeiT's truncated-normal
# init), PyMAF-MANO head, HO3D v2; same schedule as the HandMIM configs.
# Paper Table 2, ViT-Large: PA-MPVPE 8.43 mm, PA-MPJPE 8.73 mm, MPJPE 23.57 mm, F@5 0.588,
# F@15 0.970. Scored by the HO3D Codalab server from
# work_dirs/vit-l_pymaf_ho3d_scratch/submission/pred.zip.
# The paper does not say how its baseline was initialised; read as from scratch.
# Status: not yet trained on real data.
# Batch: 16 per GPU x 8 GPUs = 128 in total (the paper's fine-tuning batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['./handmim-l_pymaf_ho3d.py']
model = dict(backbone=dict(init_cfg=[
    dict(type='TruncNormal', layer='Linear', std=.02),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
]))
test_evaluator = dict(outfile_dir='work_dirs/{{fileBasenameNoExtension}}/submission')
