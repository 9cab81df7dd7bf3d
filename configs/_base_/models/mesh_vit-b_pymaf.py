# ViT-B/16 (768 wide, 12 blocks, 12 heads; mmpretrain arch 'base', the architecture of
# configs/handmim_vit-b.py) + the PyMAF-style MANO head of mesh_vit-s_pymaf.py, which sees
# the 768-channel token grid. Drop-path 0.1 (MAE/iBOT ViT-B fine-tuning; the paper is silent).
_base_ = ['mesh_vit-s_pymaf.py']
embed_dims = 768
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.1),
    head=dict(in_channels=embed_dims))
