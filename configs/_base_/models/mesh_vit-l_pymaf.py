# ViT-L/16 (1024 wide, 24 blocks, 16 heads; mmpretrain arch 'large', the architecture of
# configs/handmim_vit-l.py) + the PyMAF-style MANO head of mesh_vit-s_pymaf.py, which sees
# the 1024-channel token grid. Drop-path 0.2 (MAE ViT-L fine-tuning; the paper is silent).
_base_ = ['mesh_vit-s_pymaf.py']
embed_dims = 1024
model = dict(
    backbone=dict(arch='large', drop_path_rate=0.2),
    head=dict(in_channels=embed_dims))
