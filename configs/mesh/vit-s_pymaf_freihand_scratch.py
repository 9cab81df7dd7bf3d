# Baseline without pre-training: ViT-S/16 (DeiT-small) from random initialisation (DeiT's
# truncated-normal init), PyMAF-MANO head, FreiHAND; same schedule as the HandMIM configs.
# Paper Table 1, ViT-Small: PA-MPVPE 7.1 mm, PA-MPJPE 7.2 mm, F@5 0.697, F@15 0.978
# (Table 3 gives the same run as 7.10 / 7.21 mm). The paper does not say how its baseline was
# initialised; "before HandMIM pre-training" is read as from scratch.
# Status: not yet trained on real data.
# Batch: 16 per GPU x 8 GPUs = 128 in total (the paper's fine-tuning batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['./handmim-s_pymaf_freihand.py']
model = dict(backbone=dict(init_cfg=[
    dict(type='TruncNormal', layer='Linear', std=.02),
    dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
]))
