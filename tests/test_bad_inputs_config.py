"""Bad input, config kind (issue 17): a misspelt or missing argument of a registered type, an
unknown ``loss_weights`` key, and a DataLoader worker's user error all end as ONE line with exit
code 2 (``utils.cli.user_errors``); a TypeError raised inside a constructor (a bug) keeps its
traceback."""
import pytest
import torch
from mmengine.registry import Registry
from torch.utils.data import DataLoader, Dataset

from mmhandmim.utils.cli import config_argument_error, user_errors

REG = Registry('bad_input_cases')


@REG.register_module()
class Widget:
    def __init__(self, loss_weights, depth=2):
        if depth < 0:
            raise TypeError('a bug inside the constructor')  # not the user's spelling
        self.loss_weights, self.depth = loss_weights, depth


def _one_line_exit(capsys, fn):
    with pytest.raises(SystemExit) as exit_info:
        with user_errors('tool.py'):
            fn()
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert '\n' not in err and err.startswith('tool.py: error: ')
    return err


def test_misspelt_argument_names_the_type_and_suggests(capsys):
    err = _one_line_exit(capsys, lambda: REG.build(dict(type='Widget', loss_weigths={})))
    assert "type='Widget' does not take the argument 'loss_weigths'" in err
    assert "did you mean 'loss_weights'?" in err and 'loss_weights, depth' in err


def test_missing_argument_is_named(capsys):
    err = _one_line_exit(capsys, lambda: REG.build(dict(type='Widget')))
    assert "type='Widget' needs the argument 'loss_weights'" in err


def test_type_error_inside_a_constructor_keeps_its_traceback():
    with pytest.raises(TypeError, match='a bug inside'):
        with user_errors('tool.py'):
            REG.build(dict(type='Widget', loss_weights={}, depth=-1))
    try:
        REG.build(dict(type='Widget', loss_weights={}, depth=-1))
    except TypeError as exc:
        assert config_argument_error(exc) is None


def test_unknown_loss_weights_key_lists_the_terms(capsys):
    import os.path as osp

    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    import mmhandmim  # noqa: F401  (registers HandMIM)
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    cfg = Config.fromfile(osp.join(root, 'configs', 'demo', 'handmim_vit-tiny_demo.py')).model
    cfg.loss_weights = dict(pose=1.0, poze=1.0)
    with pytest.raises(ValueError) as info:
        MODELS.build(cfg)
    msg = str(info.value)
    assert "unknown keys ['poze']" in msg and "['pose', 'patch', 'recon']" in msg


class _BrokenImages(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, idx):
        from mmhandmim.datasets.unlabeled_hands import ImageLoadError
        raise ImageLoadError('/data/img_3.jpg', 'it is not a decodable image')


def test_worker_error_is_reported_without_the_worker_traceback(capsys):
    torch.set_num_threads(1)
    loader = DataLoader(_BrokenImages(), batch_size=2, num_workers=1)
    err = _one_line_exit(capsys, lambda: next(iter(loader)))
    assert err == ('tool.py: error: cannot load image /data/img_3.jpg: it is not a decodable '
                   'image (in DataLoader worker 0)')


def test_dict_value_in_cfg_options_is_one_argparse_error(capsys):
    import argparse

    from mmhandmim.utils.cli import cfg_options_action
    parser = argparse.ArgumentParser(prog='train.py')
    parser.add_argument('--cfg-options', nargs='+', action=cfg_options_action())
    ok = parser.parse_args(['--cfg-options', 'a.b=1', 'c=[1,2]'])
    assert ok.cfg_options == {'a.b': 1, 'c': [1, 2]}
    with pytest.raises(SystemExit) as info:  # mmengine's DictAction: RecursionError
        parser.parse_args(['--cfg-options', "model.init_cfg=dict(type='Pretrained')"])
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2
    assert err[-1].startswith('train.py: error: --cfg-options: cannot parse')
    assert 'set the keys one by one' in err[-1]
