"""Every runnable config states its batch per GPU and in total in its header, and the numbers
are the config's: per-GPU = ``train_dataloader.batch_size``, total = per-GPU x GPUs =
``auto_scale_lr.base_batch_size`` (what ``--auto-scale-lr`` scales from), and the paper's
configs give the paper's totals (pre-training 1024, fine-tuning 128)."""
import glob
import os.path as osp
import re

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(p for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)
HEADER = re.compile(r'^# Batch: (\d+) per GPU x (\d+) GPUs? = (\d+) in total', re.M)
PAPER_TOTAL = {'mesh': 128, 'handmim': 1024}  # paper sec. 4.1 (pre-training), 4.3 (fine-tuning)


def _paper_total(path):
    rel = osp.relpath(path, osp.join(ROOT, 'configs'))
    if rel.startswith(('demo', 'mmpose')):
        return None
    return PAPER_TOTAL['mesh' if rel.startswith('mesh') else 'handmim']


def test_every_runnable_config_is_checked():
    assert len(CONFIGS) >= 30


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, ROOT))
def test_batch_header_matches_config(path):
    with open(path) as f:
        lines = f.read().split('\n')
    # the header: the comment lines before the first line of code
    head = '\n'.join(lines[:next(i for i, ln in enumerate(lines) if not ln.startswith('#'))])
    match = HEADER.search(head)
    assert match, f'{path}: no "# Batch: B per GPU x G GPUs = T in total" header line'
    per_gpu, gpus, total = map(int, match.groups())
    cfg = Config.fromfile(path)
    assert per_gpu * gpus == total
    assert cfg.train_dataloader.batch_size == per_gpu
    assert cfg.auto_scale_lr.base_batch_size == total
    if _paper_total(path) is not None:
        assert total == _paper_total(path)
