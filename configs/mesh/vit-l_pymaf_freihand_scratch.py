# Baseline without pre-training: ViT-L/16 from random initialisation (DeiT's truncated-normal
# init), PyMAF-MANO head, FreiHAND; same schedule as the HandMIM configs.
# Paper Table 1, ViT-Large: PA-MPVPE 6.6 mm, PA-MPJPE 6.6 mm, F@5 0.727, F@15 0.983.
# The paper does not say how its baseline was initialised; read as from scratch.
# Status: not yet trained on real data.
# Batch: 16 per GPU x 8 GPUs = 128 in total (the paper's fine-tuning batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['./handmim-l_pymaf_freihand.py']
model = dict(backbone=dict(init_cfg=[
    dict(type='TruncNormal', layer='Linear', std=.02),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
]))
