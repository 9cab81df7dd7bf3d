"""HandMIM pre-training through the user-facing tools: the documented 8-GPU config shrunk with
--cfg-options on 2 CPU processes (centres in sync), and backbone extraction for fine-tuning."""
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tests.test_tools import ROOT, run_tool

SHRINK = [
    'model.backbone.arch=deit-tiny', 'model.backbone.img_size=64',
    'model.projection_head.in_channels=192', 'model.projection_head.out_dim=128',
    'model.projection_head.hidden_dim=64',
    'model.distill_loss.out_dim=128', 'model.decoder.in_channels=192',
    'model.decoder.channels=(16,16,16,16)', 'train_dataloader.batch_size=4',
    'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
    'train_dataloader.pin_memory=False', 'train_dataloader.dataset.pipeline.0.out_size=80',
    'train_dataloader.dataset.pipeline.1.view_size=64', 'train_cfg.max_epochs=1',
    'default_hooks.logger.interval=1',
]


@pytest.fixture(scope='module')
def crops(tmp_path_factory):
    from mmhandmim.standin.generation import generate_unlabeled
    root = tmp_path_factory.mktemp('crops')
    generate_unlabeled(str(root), num=16, img_size=96, seed=0, progress=False)
    return str(root)


def test_dist_pretrain_shrunk_vit_b_two_processes(crops, tmp_path):
    opts = SHRINK + [f'train_dataloader.dataset.data_root={crops}']
    res = run_tool(['bash', 'tools/dist_train.sh', 'tests/configs/handmim_vit-b_dump_centres.py',
                    '2', '--work-dir', str(tmp_path), '--cfg-options', *opts],
                   env=dict(PYTHON=sys.executable, PORT='29677'))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-4000:]
    assert 'loss_pose' in out and 'loss_patch' in out and 'loss_recon' in out
    c0 = torch.load(tmp_path / 'centres_rank0.pt')
    c1 = torch.load(tmp_path / 'centres_rank1.pt')
    assert set(c0) == {'center', 'patch_center'}
    for k in c0:
        assert torch.equal(c0[k], c1[k]), f'{k} differs between ranks'
        assert c0[k].abs().sum() > 0, f'{k} was never updated'
    # 16 crops, 2 ranks x batch 4 -> 2 iterations in the epoch
    assert torch.load(tmp_path / 'epoch_1.pth', weights_only=False)['meta']['iter'] == 2

    # the teacher backbone extracted for fine-tuning loads into the plain ViT, strictly
    out_pth = tmp_path / 'backbone.pth'
    res = subprocess.run([sys.executable, 'tools/model_converters/extract_handmim_backbone.py',
                          str(tmp_path / 'epoch_1.pth'), str(out_pth)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    ckpt = torch.load(out_pth, weights_only=True)  # tensors and plain values only
    from mmpretrain.models import VisionTransformer
    vit = VisionTransformer(arch='deit-tiny', img_size=64, patch_size=16)
    state = {k[len('backbone.'):]: v for k, v in ckpt['state_dict'].items()}
    vit.load_state_dict(state, strict=True)  # raises on any missing or unexpected key
    full = torch.load(tmp_path / 'epoch_1.pth', weights_only=False)['state_dict']
    assert torch.equal(state['cls_token'], full['teacher.backbone.cls_token'])
    # refuses to overwrite without --force
    res = subprocess.run([sys.executable, 'tools/model_converters/extract_handmim_backbone.py',
                          str(tmp_path / 'epoch_1.pth'), str(out_pth)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and '--force' in res.stderr
