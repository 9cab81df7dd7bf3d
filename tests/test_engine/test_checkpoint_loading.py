"""Checkpoints from elsewhere: weights_only loading (tensor files; training checkpoints with
exactly their mmengine/numpy classes), refusal of unknown pickled objects unless trusted, and
missing/unexpected keys of a Pretrained init reported at WARNING with names and counts."""
import importlib.util
import logging
import os.path as osp
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModule
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
from torch import nn

from mmhandmim.engine import checkpoint as ckpt_utils
from mmhandmim.engine.checkpoint import (TRUST_ENV, UnsafeCheckpointError,
                                        find_latest_checkpoint, load_checkpoint_file)

from .toy import captured_log

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CALLS = []


def record_call(tag):
    """Stands for the code an attacker would run from a pickle (os.system & co.)."""
    CALLS.append(tag)
    return tag


class Payload:
    def __reduce__(self):
        return record_call, ('payload ran', )


class Gadget:
    """Uses an allowed global (``getattr``) for something training checkpoints never do."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


@pytest.fixture(autouse=True)
def _clean(monkeypatch):
    CALLS.clear()
    monkeypatch.delenv(TRUST_ENV, raising=False)


def training_checkpoint(path):
    """What mmengine's Runner + RNGStateHook save: message hub buffers, numpy RNG state,
    numpy metainfo arrays."""
    torch.save({
        'meta': dict(epoch=1, iter=4, dataset_meta=dict(sigmas=np.ones(21, np.float32),
                                                        flip=np.arange(4))),
        'state_dict': {'w': torch.ones(3)},
        'message_hub': dict(log_scalars={'train/loss': HistoryBuffer([1.0, 2.0], [1, 1])},
                            runtime_info=dict(keep_ckpt_ids=[1]), resumed_keys={}),
        'rng_state': dict(numpy=np.random.get_state(), torch=torch.get_rng_state()),
    }, path)
    return path


def test_tensor_only_file_loads_with_weights_only(tmp_path, monkeypatch):
    path = tmp_path / 'backbone.pth'
    torch.save({'state_dict': {'backbone.w': torch.arange(3.)}, 'meta': dict(epoch=2)}, path)
    seen = []
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get('weights_only'))
        return real_load(*args, **kwargs)
    monkeypatch.setattr(torch, 'load', spy)
    ckpt = CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert torch.equal(ckpt['state_dict']['backbone.w'], torch.arange(3.))
    assert seen == [True]


def test_training_checkpoint_loads_with_allowed_classes(tmp_path):
    path = training_checkpoint(tmp_path / 'epoch_1.pth')
    from mmengine.logging import MMLogger
    with captured_log(MMLogger.get_current_instance()) as log:
        ckpt = _load_checkpoint(str(path), map_location='cpu')
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer) and buf.mean() == 1.5
    assert ckpt['rng_state']['numpy'][1].dtype == np.uint32
    np.testing.assert_array_equal(ckpt['meta']['dataset_meta']['flip'], np.arange(4))
    assert 'training checkpoint: loaded with weights_only=True' in log.text(logging.INFO)


def test_unknown_globals_are_refused_without_running_them(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.ones(1)}, 'x': Payload()}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert 'record_call' in str(err.value) and TRUST_ENV in str(err.value)
    assert CALLS == []
    # and through a model's init_cfg (what fine-tuning configs use)
    net = Net(init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(UnsafeCheckpointError):
        net.init_weights()
    assert CALLS == []


def test_allowed_global_used_as_gadget_is_refused(tmp_path):
    path = tmp_path / 'gadget.pth'
    torch.save({'state_dict': {}, 'g': Gadget()}, path)
    with pytest.raises(UnsafeCheckpointError, match='getattr'):
        load_checkpoint_file(str(path), 'cpu')


def test_trusted_files_are_unpickled_fully(tmp_path, monkeypatch):
    path = tmp_path / 'evil.pth'
    torch.save({'x': Payload()}, path)
    monkeypatch.setenv(TRUST_ENV, '1')
    assert load_checkpoint_file(str(path), 'cpu') == {'x': 'payload ran'}
    assert CALLS == ['payload ran']


def test_auto_resume_checkpoint_of_the_run_is_trusted(tmp_path):
    """The checkpoint auto-resume finds in the run's own work dir may hold other objects."""
    torch.save({'state_dict': {}, 'x': Payload()}, tmp_path / 'epoch_3.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_3.pth'))
    found = find_latest_checkpoint(str(tmp_path))
    assert load_checkpoint_file(found, 'cpu')['x'] == 'payload ran'


def test_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match='gone.pth'):
        load_checkpoint_file(str(tmp_path / 'gone.pth'))


def test_unsafe_error_is_an_unpickling_error():
    assert issubclass(UnsafeCheckpointError, pickle.UnpicklingError)


# --- key mismatches -------------------------------------------------------------------------
class Net(BaseModule):
    def __init__(self, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.conv = nn.Conv2d(3, 4, 1)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4, 2)


def test_pretrained_init_reports_missing_and_unexpected_keys(tmp_path):
    src = Net().state_dict()
    state = {f'backbone.{k}': v for k, v in src.items() if not k.startswith('head.')}
    state['backbone.extra.weight'] = torch.zeros(1)
    path = tmp_path / 'backbone.pth'
    torch.save({'state_dict': state}, path)
    net = Net(init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    from mmengine.logging import MMLogger
    with captured_log(MMLogger.get_current_instance()) as log:
        net.init_weights()
    assert torch.equal(net.conv.weight, src['conv.weight'])
    warning = log.text(logging.WARNING)
    assert '2 missing key(s)' in warning and '1 unexpected key(s)' in warning
    assert 'missing (2): head.weight, head.bias' in warning
    assert 'unexpected (1): extra.weight' in warning
    assert 'num_batches_tracked' not in warning


def test_nothing_loaded_is_called_out(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {'backbone.foo': torch.zeros(1)}}, path)
    net = Net(init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='backbone.'))
    from mmengine.logging import MMLogger
    with captured_log(MMLogger.get_current_instance()) as log:
        net.init_weights()
    assert 'nothing was loaded' in log.text(logging.WARNING)


def test_strict_loading_still_raises():
    from mmengine.runner.checkpoint import load_state_dict
    with pytest.raises(RuntimeError, match='missing keys'):
        load_state_dict(Net(), {'conv.weight': torch.zeros(4, 3, 1, 1)}, strict=True)


# --- the backbone extraction tool ---------------------------------------------------------
def _extract_tool():
    spec = importlib.util.spec_from_file_location(
        'extract_handmim_backbone',
        osp.join(ROOT, 'tools/model_converters/extract_handmim_backbone.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_extract_tool_refuses_untrusted_pickles(tmp_path):
    tool = _extract_tool()
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': Payload()}, path)
    from mmhandmim.utils.errors import UserInputError
    with pytest.raises(UserInputError, match='refusing to load'):
        tool.extract(str(path), str(tmp_path / 'out.pth'))
    assert CALLS == []


def test_install_is_idempotent():
    assert ckpt_utils.install() == []
