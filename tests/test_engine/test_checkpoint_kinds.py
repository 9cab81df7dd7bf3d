"""Checkpoints of the wrong kind are refused on one line before they reach the model: a HandMIM
pre-training checkpoint as a model's or backbone's weights (it would give the student), a
checkpoint that leaves the head unloaded in tools/test.py, and --resume with a checkpoint of
another config (which died inside the torch optimizer)."""
import itertools
import os.path as osp
import sys

import pytest
import torch
from mmengine.runner import load_checkpoint

from mmhandmim.engine.checkpoint import (PretrainingCheckpointError, ResumeMismatchError,
                                        is_pretraining_state)
from tests.helpers.tools import load_tool
from tests.helpers.image_folders import make_shape_folder

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLS = 'tests/configs/tiny_cls.py'
EXTRACT = 'tools/model_converters/extract_handmim_backbone.py'


_tool = load_tool


_RUNS = itertools.count()


def run_main(name, argv, capsys):
    """(exit code, stderr) of tools/<name>.py's main(argv), run in this process.

    Each run gets its own experiment name: mmengine names the run's logger by the config and
    the second, and a second run in the same second would log through the earlier test's
    logger, whose stream (that test's capture) is closed ("--- Logging error ---" and a
    traceback in this test's stderr, seen in a full-suite run).
    """
    argv = [*argv, '--cfg-options', f'experiment_name=run_main-{next(_RUNS)}']
    with pytest.raises(SystemExit) as exit_info:
        _tool(name).main(argv)
    return exit_info.value.code, capsys.readouterr().err


@pytest.fixture(scope='module')
def pretrain_ckpt(tmp_path_factory):
    """A checkpoint as tools/train.py writes it for the tiny HandMIM: student, teacher and
    heads in its state dict (made from the real algorithm, without a training run)."""
    from mmengine.registry import DefaultScope

    from tests.test_selfsup.tiny import build_model
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = build_model()
    with torch.no_grad():  # teacher and student must differ, as after any training step
        model.backbone.pos_embed.fill_(0.25)
        model.teacher.backbone.pos_embed.fill_(0.25)
        for p in model.teacher.parameters():
            p.add_(1.0)
    path = tmp_path_factory.mktemp('pretrain') / 'epoch_1.pth'
    torch.save(dict(meta=dict(epoch=1, iter=4), state_dict=model.state_dict()), path)
    return str(path), model


def _vit():
    from mmpretrain.models import VisionTransformer
    return VisionTransformer(arch=dict(embed_dims=48, num_layers=4, num_heads=3,
                                       feedforward_channels=96), img_size=64, patch_size=16)


def test_pretraining_state_is_recognised(pretrain_ckpt):
    path, model = pretrain_ckpt
    assert is_pretraining_state(torch.load(path, weights_only=False)['state_dict'])
    assert not is_pretraining_state({f'backbone.{k}': v for k, v in _vit().state_dict().items()})


@pytest.mark.parametrize('prefix', [None, 'backbone.'])
def test_pretrained_init_refuses_pretraining_checkpoint(pretrain_ckpt, prefix):
    from mmpretrain.models import VisionTransformer
    path, model = pretrain_ckpt
    init = dict(type='Pretrained', checkpoint=path)
    if prefix:
        init['prefix'] = prefix
    vit = VisionTransformer(arch=dict(embed_dims=48, num_layers=4, num_heads=3,
                                      feedforward_channels=96), img_size=64, patch_size=16,
                            init_cfg=init)
    with pytest.raises(PretrainingCheckpointError) as err:
        vit.init_weights()
    msg = str(err.value)
    assert '\n' not in msg and 'pre-training checkpoint' in msg and 'student' in msg
    assert f'python {EXTRACT} {path} OUT.pth' in msg
    assert not (vit.pos_embed == 0.25).any(), 'the student was loaded'


def test_load_checkpoint_into_model_without_teacher_is_refused(pretrain_ckpt):
    path, _ = pretrain_ckpt
    with pytest.raises(PretrainingCheckpointError, match='into VisionTransformer'):
        load_checkpoint(_vit(), path, map_location='cpu')


def test_teacher_prefix_and_extracted_teacher_load(pretrain_ckpt, tmp_path):
    """What the message tells the user to do works, and gives the teacher's weights."""
    path, model = pretrain_ckpt
    teacher = model.teacher.backbone.state_dict()
    extract = _tool('model_converters/extract_handmim_backbone')
    out = tmp_path / 'backbone.pth'
    extract.extract(path, str(out))
    vit = _vit()
    vit.init_cfg = dict(type='Pretrained', checkpoint=str(out), prefix='backbone.')
    vit.init_weights()
    assert torch.equal(vit.cls_token, teacher['cls_token'])
    assert not torch.equal(vit.cls_token, model.backbone.cls_token)  # not the student
    vit2 = _vit()  # an explicit teacher prefix selects the teacher: allowed
    vit2.init_cfg = dict(type='Pretrained', checkpoint=path, prefix='teacher.backbone.')
    vit2.init_weights()
    assert torch.equal(vit2.pos_embed, teacher['pos_embed'])


def test_handmim_model_may_load_its_own_checkpoint(pretrain_ckpt):
    """Resuming or continuing pre-training: the model has a teacher, nothing is refused."""
    path, model = pretrain_ckpt
    from mmengine.registry import DefaultScope

    from tests.test_selfsup.tiny import build_model
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        fresh = build_model()
    load_checkpoint(fresh, path, map_location='cpu')
    assert torch.equal(fresh.teacher.backbone.cls_token, model.teacher.backbone.cls_token)


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    return make_shape_folder(str(tmp_path_factory.mktemp('shapes')))


def _opts(root, *extra):
    return ['--cfg-options', *[f'{k}_dataloader.dataset.data_root={root}'
                               for k in ('train', 'val', 'test')], *extra]


@pytest.fixture(scope='module')
def trained(shapes, tmp_path_factory):
    """A one-epoch tiny_cls run (epoch_1.pth)."""
    import subprocess
    work = tmp_path_factory.mktemp('trained')
    res = subprocess.run([sys.executable, 'tools/train.py', CLS, '--work-dir', str(work),
                          *_opts(shapes, 'train_cfg.max_epochs=1')], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return work


def test_test_tool_refuses_pretraining_checkpoint(pretrain_ckpt, shapes, tmp_path, capsys):
    path, _ = pretrain_ckpt
    code, err = run_main('test', [CLS, path, '--work-dir', str(tmp_path), *_opts(shapes)],
                         capsys)
    line = [ln for ln in err.splitlines() if ln.startswith('test.py: error:')]
    assert code == 2 and len(line) == 1, err[-2000:]
    assert 'pre-training checkpoint' in line[0] and EXTRACT in line[0]
    assert 'accuracy' not in err


def test_test_tool_refuses_checkpoint_without_head(trained, shapes, tmp_path, capsys):
    full = torch.load(trained / 'epoch_1.pth', weights_only=False)
    state = {k: v for k, v in full['state_dict'].items() if not k.startswith('head.')}
    path = tmp_path / 'backbone_only.pth'
    torch.save(dict(state_dict=state), path)
    code, err = run_main('test', [CLS, str(path), '--work-dir', str(tmp_path / 'w'),
                                  *_opts(shapes)], capsys)
    line = [ln for ln in err.splitlines() if ln.startswith('test.py: error:')]
    assert code == 2 and len(line) == 1, err[-2000:]
    n_head = sum(1 for k in full['state_dict'] if k.startswith('head.'))
    assert f'head: {n_head} of {n_head}' in line[0] and 'head.layers.head.weight' in line[0]
    # the complete checkpoint of the same run is evaluated
    _tool('test').main([CLS, str(trained / 'epoch_1.pth'), '--work-dir', str(tmp_path / 'w2'),
                        *_opts(shapes)])
    assert 'accuracy/top1' in capsys.readouterr().out


def test_resume_with_other_models_checkpoint(trained, shapes, tmp_path, capsys):
    ckpt = str(trained / 'epoch_1.pth')
    other = ['model.backbone.arch.embed_dims=48', 'model.head.in_channels=48']
    code, err = run_main('train', [CLS, '--resume', ckpt, '--work-dir', str(tmp_path),
                                   *_opts(shapes, *other)], capsys)
    line = [ln for ln in err.splitlines() if ln.startswith('train.py: error:')]
    assert code == 2 and len(line) == 1, err[-2000:]
    assert f'cannot resume from {ckpt}' in line[0] and 'another config' in line[0]
    assert 'backbone.cls_token (saved [1, 1, 32], model [1, 1, 48])' in line[0]
    assert 'Traceback' not in err


def test_resume_with_other_optimizer_groups(trained, shapes, tmp_path, capsys):
    ckpt = str(trained / 'epoch_1.pth')
    saved_groups = len(torch.load(ckpt, weights_only=False)['optimizer']['param_groups'])
    # paramwise settings make one group per parameter: the model matches, the optimizer not
    code, err = run_main('train', [CLS, '--resume', ckpt, '--work-dir', str(tmp_path),
                                   *_opts(shapes, 'optim_wrapper.paramwise_cfg.norm_decay_mult'
                                          '=0.0')], capsys)
    line = [ln for ln in err.splitlines() if ln.startswith('train.py: error:')]
    assert code == 2 and len(line) == 1, err[-2000:]
    assert f'optimizer: {saved_groups} parameter group(s) saved' in line[0]


def test_resume_from_weights_only_file(trained, shapes, tmp_path, capsys):
    path = tmp_path / 'weights.pth'
    torch.save(dict(state_dict=torch.load(trained / 'epoch_1.pth',
                                          weights_only=False)['state_dict']), path)
    code, err = run_main('train', [CLS, '--resume', str(path), '--work-dir',
                                   str(tmp_path / 'w'), *_opts(shapes)], capsys)
    assert code == 2 and 'not a training checkpoint' in err and 'load_from=' in err, err


def test_resume_with_same_config_is_not_refused(trained, shapes, tmp_path, capsys):
    """The comparison must not refuse the checkpoint of the very config (no false alarm)."""
    _tool('train').main([CLS, '--resume', str(trained / 'epoch_1.pth'), '--work-dir',
                         str(tmp_path), *_opts(shapes, 'train_cfg.max_epochs=2',
                                               'train_cfg.val_interval=5')])
    assert torch.load(tmp_path / 'epoch_2.pth', weights_only=False)['meta']['iter'] == 8
