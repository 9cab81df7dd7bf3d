"""mmhandmim's modules from an ordinary mmpose config
(configs/mmpose/td-hm_handmim-vit-s_freihand2d-224.py): mmhandmim's FreiHAND dataset with
mmpose's own 2D top-down transforms, heatmap codec and PCK/AUC/EPE metrics, and an mmpretrain
ViT initialised from a HandMIM backbone checkpoint, in mmpose's TopdownPoseEstimator.
Shrunk (tiny ViT, 64 px input, 16x16 heatmaps) and run on a generated FreiHAND-layout root
(stand-in hand model, not MANO) with a generated backbone checkpoint."""
import math
import os.path as osp
import uuid

import numpy as np
import pytest
import torch
from mmengine import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(ROOT, 'configs', 'mmpose', 'td-hm_handmim-vit-s_freihand2d-224.py')
IMG, INPUT, HEATMAP = 64, 64, 16  # generated image side, network input, heatmap side


@pytest.fixture(scope='module')
def freihand_root(tmp_path_factory):
    from mmhandmim.standin.generation import generate_freihand
    root = tmp_path_factory.mktemp('freihand2d')
    generate_freihand(str(root), num_train=4, num_eval=2, versions=1, img_size=IMG, seed=5,
                      progress=False)
    return str(root)


def shrunk_config(data_root, checkpoint):
    """The shipped config with its values overridden the way a user would (cfg options)."""
    cfg = Config.fromfile(CONFIG)
    codec = dict(cfg.codec, input_size=(INPUT, INPUT), heatmap_size=(HEATMAP, HEATMAP))
    cfg.codec = codec
    bb, head = cfg.model.backbone, cfg.model.head
    bb.arch = dict(embed_dims=96, num_layers=2, num_heads=3, feedforward_channels=192)
    bb.update(img_size=INPUT, drop_path_rate=0.0)
    bb.init_cfg.checkpoint = checkpoint
    head.update(in_channels=96, deconv_out_channels=(32, 32), decoder=codec)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dl = cfg[key]
        dl.update(batch_size=4 if key == 'train_dataloader' else 2, num_workers=0,
                  persistent_workers=False)
        dl.dataset.update(data_root=data_root, image_size=IMG)
        if dl.dataset.split == 'training':
            dl.dataset.image_versions = ('gs', )
        for t in dl.dataset.pipeline:
            if t.type == 'TopdownAffine':
                t.input_size = codec['input_size']
            elif t.type == 'GenerateTarget':
                t.encoder = codec
    return cfg


@pytest.fixture
def setup(freihand_root, tmp_path):
    """Shrunk config + a HandMIM backbone checkpoint (extract_handmim_backbone.py's format:
    {'state_dict': {'backbone.<key>': tensor}}) with random values and matching keys."""
    from mmpretrain.models import VisionTransformer
    ckpt = str(tmp_path / 'backbone.pth')
    cfg = shrunk_config(freihand_root, ckpt)
    bb = dict(cfg.model.backbone)
    for k in ('type', 'init_cfg'):
        bb.pop(k)
    torch.manual_seed(1)
    state = {f'backbone.{k}': torch.randn_like(v) * 0.02
             for k, v in VisionTransformer(**bb).state_dict().items()}
    torch.save({'state_dict': state}, ckpt)
    return cfg, state


def test_config_is_a_standard_mmpose_2d_hand_config():
    cfg = Config.fromfile(CONFIG)
    assert cfg.default_scope == 'mmpose'
    assert cfg.custom_imports == dict(imports=['mmhandmim'], allow_failed_imports=False)
    assert cfg.model.type == 'TopdownPoseEstimator' and cfg.model.head.type == 'HeatmapHead'
    bb = cfg.model.backbone
    assert bb.type == 'mmpretrain.VisionTransformer' and bb.out_type == 'featmap'
    assert (bb.arch, bb.img_size, bb.patch_size) == ('deit-small', 224, 16)
    assert bb.init_cfg == dict(type='Pretrained', prefix='backbone.',
                               checkpoint='work_dirs/handmim_vit-s/backbone.pth')
    assert cfg.codec.heatmap_size == (56, 56) and cfg.codec.input_size == (224, 224)
    assert cfg.train_dataloader.dataset.type == 'FreiHANDMeshDataset'
    assert cfg.train_dataloader.dataset.data_root == 'data/freihand/'
    assert [t.type for t in cfg.train_dataloader.dataset.pipeline] == [
        'LoadImage', 'GetBBoxCenterScale', 'RandomFlip', 'RandomBBoxTransform',
        'TopdownAffine', 'GenerateTarget', 'PackPoseInputs']
    assert [m.type for m in cfg.val_evaluator] == ['PCKAccuracy', 'AUC', 'EPE']


def test_heatmap_targets_encode_the_dataset_keypoints(setup, mmpose_scope):
    """Without augmentation: decoding GenerateTarget's heatmaps gives the dataset's projected
    2D joints warped by an independently computed crop affine, within 1 heatmap pixel. With
    the training augmentation (flip, shift, scale, rotation): they give the keypoints as
    mmpose's transforms moved them, within 1 heatmap pixel."""
    from mmcv.transforms import Compose
    from mmpose.registry import DATASETS, KEYPOINT_CODECS
    from mmpose.structures.bbox import get_warp_matrix
    cfg, _ = setup
    codec = KEYPOINT_CODECS.build(cfg.codec)
    px = INPUT / HEATMAP  # one heatmap pixel in input pixels
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    pipe = cfg.train_dataloader.dataset.pipeline
    plain = Compose([dict(t) for t in pipe if t.type in ('LoadImage', 'GetBBoxCenterScale',
                                                          'TopdownAffine', 'GenerateTarget')])
    augmented = Compose([dict(t) for t in pipe[:-1]])
    checked, flipped = 0, 0
    np.random.seed(0)
    for _ in range(3):
        for i in range(len(ds)):
            info = ds.get_data_info(i)
            kpts = info['keypoints'][0].astype(np.float64)
            r = plain(ds.get_data_info(i))
            warp = get_warp_matrix(r['input_center'], r['input_scale'], 0.,
                                   output_size=(INPUT, INPUT))
            expected = kpts @ warp[:, :2].T + warp[:, 2]
            decoded = codec.decode(r['heatmaps'])[0][0]
            w = r['keypoint_weights'][0] > 0
            assert w.sum() >= 15  # generated hands are inside the crop
            assert np.abs(decoded - expected)[w].max() <= px
            r = augmented(ds.get_data_info(i))
            decoded = codec.decode(r['heatmaps'])[0][0]
            moved = r['transformed_keypoints'][0]
            # mmpose keeps a weight for joints just outside the crop (Gaussian partly in it);
            # their maximum is on the border, so only joints inside are compared
            w = (r['keypoint_weights'][0] > 0) & np.all((moved >= 0) & (moved <= INPUT - px), 1)
            assert w.sum() >= 5 and np.abs(decoded - moved)[w].max() <= px
            checked += 1
            flipped += bool(r['flip'])
    assert checked == 12 and 0 < flipped < checked  # RandomFlip used the dataset metainfo


def test_pretrained_backbone_training_and_validation(setup, tmp_path, mmpose_scope,
                                                     runner_globals):
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner import Runner
    from mmpose.registry import MODELS
    cfg, state = setup

    # (b) the HandMIM backbone checkpoint is what init_weights loads into the mmpretrain ViT
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    bb_state = model.backbone.state_dict()
    assert set(f'backbone.{k}' for k in bb_state) == set(state)
    for k, v in bb_state.items():
        assert torch.equal(v, state[f'backbone.{k}']), k
    assert torch.equal(model.backbone.layers[1].ffn.layers[0][0].weight,
                       state['backbone.layers.1.ffn.layers.0.0.weight'])

    # (a) a few optimiser steps on one fixed batch of mmpose's training pipeline lower the
    # heatmap loss
    np.random.seed(0)  # mmpose's random transforms draw from numpy's global generator
    train_loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    batch = next(iter(train_loader))
    assert batch['inputs'][0].shape == (3, INPUT, INPUT)
    assert batch['data_samples'][0].gt_fields.heatmaps.shape == (21, HEATMAP, HEATMAP)
    cfg.optim_wrapper.optimizer.lr = 2e-3
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    model.train()
    losses = [model.train_step(batch, wrapper)['loss_kpt'].item() for _ in range(15)]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.75 * losses[0], losses

    # the whole config through an mmengine Runner: trains an epoch (init from the checkpoint),
    # validates with mmpose's PCKAccuracy / AUC / EPE (flip test uses the dataset metainfo)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_cfg.update(max_epochs=1, val_interval=1)
    cfg.default_hooks.logger.interval = 1
    cfg.visualizer.name = f'vis-{uuid.uuid4().hex}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val()
    assert set(metrics) == {'PCK', 'AUC', 'EPE'}, metrics
    assert all(math.isfinite(v) for v in metrics.values()), metrics
    assert 0 <= metrics['PCK'] <= 1 and 0 <= metrics['AUC'] <= 1 and metrics['EPE'] >= 0
