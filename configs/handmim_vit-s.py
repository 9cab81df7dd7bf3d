# HandMIM pre-training, ViT-S/16, 400 epochs, 8 GPUs x 128 (paper section 3.1).
# Fine-tuned on FreiHAND it should reach PA-MPJPE 6.57 / PA-MPVPE 6.57 mm (paper Table 1).
#   tools/dist_train.sh configs/handmim_vit-s.py 8 --amp
# Batch: 128 per GPU x 8 GPUs = 1024 in total (the paper's pre-training batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = [
    '_base_/default_runtime_pretrain.py', '_base_/models/handmim_vit-s.py',
    '_base_/datasets/handmim_pretrain.py', '_base_/schedules/handmim_adamw_400e.py'
]
