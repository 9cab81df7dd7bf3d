# Fig. 7 partial fine-tuning on FreiHAND: ViT-S/16 from iBOT-S pre-training
# (configs/handmim/ibot_vit-s.py, work_dirs/ibot_vit-s/backbone.pth) with the patch
# embedding, class token, position embedding and the first 8 of 12 blocks frozen; the
# other blocks, the final norm and the PyMAF-MANO head are fine-tuned.
# Paper Fig. 7, iBOT curve at 8 frozen blocks (FreiHAND test error): plotted only,
# no printed value; 0 frozen blocks is ibot-s_pymaf_freihand.py. Other k: copy this file and
# change frozen_blocks.
# Status: not yet trained on real data.
#
# mmpretrain's VisionTransformer(frozen_stages=k) sets requires_grad=False on patch_embed,
# cls_token, pos_embed, pre_norm and layers[0:k] (ln1 too when k == 12) and calls eval() on
# them once, in __init__; it has no train() override, so the runner's model.train() puts them
# back in train mode. Their drop-path is therefore switched off here: the frozen part is then
# deterministic (dropout is 0 and LayerNorm has no running statistics).
# Batch: 16 per GPU x 8 GPUs = 128 in total (the paper's fine-tuning batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['./ibot-s_pymaf_freihand.py']
frozen_blocks = 8
num_blocks = 12
model = dict(backbone=dict(
    frozen_stages=frozen_blocks,
    layer_cfgs=[dict(drop_path_rate=0.0)] * frozen_blocks +
    [dict()] * (num_blocks - frozen_blocks)))
