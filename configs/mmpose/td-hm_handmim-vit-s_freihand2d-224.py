# mmhandmim's modules from an ordinary mmpose config: mmpose's own top-down 2D hand keypoint
# recipe for FreiHAND (inherited below: schedule, MSRAHeatmap codec, transforms, PCK/AUC/EPE
# metrics) with mmhandmim's FreiHANDMeshDataset (the FreiHAND_pub_v2 download, its projected
# 21 joints as 2D keypoints) and an mmpretrain ViT-S/16 initialised from a HandMIM-S backbone
# (tools/model_converters/extract_handmim_backbone.py), ViTPose simple style: the 14x14
# patch-token map -> 2 deconvolutions -> 56x56 heatmaps. Only what differs is written here.
# Status: not yet trained on real data.
# Batch: 64 per GPU x 8 GPUs = 512 in total (mmpose's td-hm recipe); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = [
    'mmpose::hand_2d_keypoint/topdown_heatmap/freihand2d/'
    'td-hm_res50_8xb64-100e_freihand2d-224x224.py'
]

custom_imports = dict(imports=['mmhandmim'], allow_failed_imports=False)

# validate and checkpoint every 10 epochs, not every epoch (a ViT epoch costs more)
train_cfg = dict(val_interval=10)
default_hooks = dict(checkpoint=dict(interval=10))

# model: the HandMIM ViT-S instead of the ResNet-50
embed_dims = 384
pretrained = 'work_dirs/handmim_vit-s/backbone.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.VisionTransformer',
        arch='deit-small',  # ViT-S: 384 dims, 12 layers, 6 heads
        img_size=224,
        patch_size=16,
        out_type='featmap',  # patch tokens as a (384, 14, 14) map
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    head=dict(
        in_channels=embed_dims,
        deconv_out_channels=(256, 256),  # 14 -> 28 -> 56 (ResNet's 7x7 map needs 3)
        deconv_kernel_sizes=(4, 4)))

# data: FreiHAND_pub_v2 as downloaded (see README "Data preparation") instead of mmpose's
# COCO-style json conversion; the whole 224x224 image as the box (bbox_source='image', as
# mmpose's FreiHandDataset); the evaluation split's public ground truth for validation and
# testing
dataset_type = 'FreiHANDMeshDataset'
data_root = 'data/freihand/'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        split='training',
        bbox_source='image',
        pipeline={{_base_.train_pipeline}}))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        split='evaluation',
        bbox_source='image',
        test_mode=True,
        pipeline={{_base_.val_pipeline}}))
test_dataloader = val_dataloader
