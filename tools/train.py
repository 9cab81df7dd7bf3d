"""Train a model from a config: the OpenMMLab ``tools/train.py`` for mmhandmim.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                          [--amp-dtype {float16,bfloat16}] [--cfg-options k=v ...]
                          [--launcher {none,pytorch,slurm}]

The pre-training configs declare AmpOptimWrapper (the paper's mixed precision); without a
CUDA device it becomes an OptimWrapper (float32) with a one-line warning, so CPU runs work.
"""
import argparse
import copy
import os

import _bootstrap  # noqa: F401  (repo root on sys.path, compat fixes; must stay first)
from mmengine.config import DictAction

from mmhandmim.engine.runner import build_runner
from mmhandmim.utils.cli import (check_data_roots, check_file, load_config, set_work_dir,
                                 user_errors)
from mmhandmim.utils.errors import UserInputError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work dir if no CKPT')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--amp-dtype', choices=['float16', 'bfloat16'],
                        help='autocast dtype (implies --amp); bfloat16 on A100/H100')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual / base batch size')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_cfg.max_epochs=10')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


#: AmpOptimWrapper's own arguments, which OptimWrapper does not take
AMP_ONLY_KEYS = ('loss_scale', 'dtype', 'use_fsdp')


def amp_usable():
    """Exactly what mmengine's AmpOptimWrapper asserts: a CUDA/NPU/MLU/MUSA device."""
    from mmengine.device import (is_cuda_available, is_mlu_available, is_musa_available,
                                 is_npu_available)
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def without_amp(optim_cfg):
    """``optim_cfg`` as a float32 OptimWrapper: same optimizer, clipping, paramwise settings."""
    optim_cfg = copy.deepcopy(optim_cfg)
    optim_cfg['type'] = 'OptimWrapper'
    for key in AMP_ONLY_KEYS:
        optim_cfg.pop(key, None)
    return optim_cfg


def merge_amp_args(cfg, args):
    optim = cfg.get('optim_wrapper')
    if optim is None:
        return
    if args.amp or args.amp_dtype:
        if optim.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            pass
        elif optim.get('type', 'OptimWrapper') != 'OptimWrapper':
            raise UserInputError(f'--amp needs optim_wrapper.type OptimWrapper, got '
                                 f'{optim.type!r}')
        else:
            optim.type = 'AmpOptimWrapper'
            optim.setdefault('loss_scale', 'dynamic')
        if args.amp_dtype:
            optim.dtype = args.amp_dtype
        if not amp_usable():  # asked for explicitly: fail here, not in mmengine's assert
            raise UserInputError('--amp/--amp-dtype need a CUDA device; none is usable')
    elif optim.get('type') == 'AmpOptimWrapper' and not amp_usable():
        # the config's default (the paper's recipe): keep CPU runs working, say so once
        if os.environ.get('RANK', '0') == '0':
            print('train.py: no CUDA device: AmpOptimWrapper -> OptimWrapper (float32)',
                  flush=True)
        cfg.optim_wrapper = without_amp(optim)


def merge_args(cfg, args):
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.work_dir, args.config)
    merge_amp_args(cfg, args)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        check_file(args.resume, 'checkpoint given to --resume')
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise UserInputError('--auto-scale-lr needs `auto_scale_lr.base_batch_size` '
                                 'in the config')
        cfg.auto_scale_lr.enable = True
    if not cfg.get('resume'):
        check_file(cfg.get('load_from'), 'checkpoint given by load_from')
    return cfg


def main(argv=None):
    args = parse_args(argv)
    with user_errors('train.py'):
        cfg = merge_args(load_config(args.config, args.cfg_options), args)
        check_data_roots(cfg)
        build_runner(cfg).train()


if __name__ == '__main__':
    main()
