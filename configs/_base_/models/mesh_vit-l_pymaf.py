# ViT-L/16 (1024 wide, 24 blocks, 16 heads; mmpretrain arch 'large', the architecture of
# configs/handmim_vit-l.py) + the PyMAF-style MANO head of mesh_vit-s_pymaf.py, which sees
# the 1024-channel token grid. Drop-path 0.2 (MAE ViT-L fine-tuning; the paper is silent).
# CheckpointedViT is mmpretrain's VisionTransformer (same arguments, weights and outputs) with
# a with_cp switch, which mmpretrain 1.2's ViT lacks: with_cp=True recomputes each block in
# the backward pass (~300 -> ~20 MiB of kept activations per 224 px image, about a third
# more compute), for when a batch does not fit: --cfg-options model.backbone.with_cp=True
_base_ = ['mesh_vit-s_pymaf.py']
embed_dims = 1024
model = dict(
    backbone=dict(type='mmpretrain.CheckpointedViT', arch='large', drop_path_rate=0.2,
                  with_cp=False),
    head=dict(in_channels=embed_dims))
