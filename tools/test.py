"""Evaluate a checkpoint: the OpenMMLab ``tools/test.py`` for mmhandmim.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.pkl]
                         [--cfg-options k=v ...] [--launcher {none,pytorch,slurm}]
"""
import argparse
import os
import os.path as osp

import _bootstrap  # noqa: F401  (repo root on sys.path, compat fixes; must stay first)
from mmengine.config import DictAction

from mmhandmim.utils.cli import (UserInputError, build_runner, check_data_roots, check_file,
                                 load_config, set_work_dir, user_errors)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for logs and results')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. test_evaluator.format_only=True')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    with user_errors('test.py'):
        cfg = load_config(args.config, args.cfg_options)
        check_file(args.checkpoint, 'checkpoint')
        check_data_roots(cfg, loaders=('test_dataloader', ))
        cfg.launcher = args.launcher
        cfg.load_from = args.checkpoint
        set_work_dir(cfg, args.work_dir, args.config)
        if args.out is not None:
            if not args.out.endswith(('.pkl', '.pickle')):
                raise UserInputError(f'--out must end with .pkl or .pickle, got {args.out!r}')
            if osp.exists(args.out):
                raise UserInputError(f'--out file exists and would be overwritten: '
                                     f'{args.out!r}; remove it or choose another name')
            evaluators = cfg.test_evaluator
            evaluators = list(evaluators) if isinstance(evaluators, (list, tuple)) else [
                evaluators]
            evaluators.append(dict(type='DumpResults', out_file_path=args.out))
            cfg.test_evaluator = evaluators
        build_runner(cfg).test()


if __name__ == '__main__':
    main()
