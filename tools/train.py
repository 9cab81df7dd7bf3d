"""Train a model from a config: the OpenMMLab ``tools/train.py`` for mmhandmim.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                          [--cfg-options k=v ...] [--launcher {none,pytorch,slurm}]
"""
import argparse
import os

import _bootstrap  # noqa: F401  (repo root on sys.path, compat fixes; must stay first)
from mmengine.config import DictAction

from mmhandmim.utils.cli import (UserInputError, build_runner, check_data_roots, check_file,
                                 load_config, set_work_dir, user_errors)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work dir if no CKPT')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by the actual / base batch size')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. train_cfg.max_epochs=10')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg, args):
    cfg.launcher = args.launcher
    set_work_dir(cfg, args.work_dir, args.config)
    if args.amp:
        optim = cfg.optim_wrapper
        if optim.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            pass
        elif optim.get('type', 'OptimWrapper') != 'OptimWrapper':
            raise UserInputError(f'--amp needs optim_wrapper.type OptimWrapper, got '
                                 f'{optim.type!r}')
        else:
            optim.type = 'AmpOptimWrapper'
            optim.setdefault('loss_scale', 'dynamic')
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
