# HandMIM pre-training, ViT-B/16 (768 wide, 12 blocks), 400 epochs, 8 GPUs x 128.
# Fine-tuned on FreiHAND: PA-MPJPE 6.44 / PA-MPVPE 6.47 mm (paper Table 1).
#   tools/dist_train.sh configs/handmim_vit-b.py 8 --amp
# Batch: 128 per GPU x 8 GPUs = 1024 in total (the paper's pre-training batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['handmim_vit-s.py']
embed_dims = 768
model = dict(
    backbone=dict(arch='base', drop_path_rate=0.1),
    projection_head=dict(in_channels=embed_dims),
    decoder=dict(in_channels=embed_dims))
