"""Train a model from a config: the OpenMMLab ``tools/train.py`` for mmhandmim.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                          [--amp-dtype {float16,bfloat16}] [--cfg-options k=v ...]
                          [--launcher {none,pytorch,slurm}]

The pre-training configs declare AmpOptimWrapper (the paper's mixed precision); without a
CUDA device it becomes an OptimWrapper (float32) with a one-line warning, so CPU runs work.

A run holds ``<work_dir>/.lock`` (``engine.work_dir_lock``): a second training into the same
work dir is refused while the first lives. Ctrl-C ends with the command that resumes the run
(exit 130); a read-only work dir or a full disk ends on one line naming the path (exit 2).
"""
import argparse
import copy
import os
import os.path as osp
import shlex
import sys

import _bootstrap  # noqa: F401  (repo root on sys.path, compat fixes; must stay first)
from mmhandmim.engine.runner import build_runner, start_distributed
from mmhandmim.engine.work_dir_lock import hold_work_dir, work_dir_write_errors
from mmhandmim.utils.cli import (cfg_options_action, check_data_roots, check_file, load_config,
                                 set_work_dir, user_errors)
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
    parser.add_argument('--cfg-options', nargs='+', action=cfg_options_action(),
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


def _script():
    here = osp.abspath(__file__)
    rel = osp.relpath(here)
    return here if rel.startswith('..') else rel


def command_line(argv=None):
    """This run's command line, quoted for a shell."""
    argv = sys.argv[1:] if argv is None else list(argv)
    return shlex.join(['python', _script(), *argv])


def resume_command(args, argv=None):
    """The command that resumes this run from its work dir: the same arguments with
    ``--resume`` (auto: the work dir's last checkpoint) in place of any ``--resume [CKPT]``.
    A torchrun launch (``--launcher pytorch``) is resumed through ``tools/dist_train.sh``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    kept, skip = [], False
    for i, tok in enumerate(argv):
        if skip:
            skip = False
            continue
        if tok == '--resume' or tok.startswith('--resume='):
            # an explicit CKPT follows as its own token
            skip = (tok == '--resume' and args.resume not in (None, 'auto')
                    and i + 1 < len(argv) and argv[i + 1] == args.resume)
            continue
        kept.append(tok)
    at = kept.index(args.config) + 1 if args.config in kept else len(kept)
    kept.insert(at, '--resume')
    if args.launcher == 'pytorch' and os.environ.get('WORLD_SIZE'):
        drop = {'--launcher', 'pytorch', args.config}
        rest = [t for t in kept if t not in drop and not t.startswith('--local')]
        nproc = os.environ.get('LOCAL_WORLD_SIZE', os.environ['WORLD_SIZE'])
        return shlex.join(['bash', osp.join(osp.dirname(_script()), 'dist_train.sh'),
                           args.config, nproc, *rest])
    return shlex.join(['python', _script(), *kept])


def train(args, argv=None):
    cfg = merge_args(load_config(args.config, args.cfg_options), args)
    check_data_roots(cfg)
    start_distributed(cfg)  # the ranks must agree on the work dir lock
    # the lock also checks that the work dir can be written (exit 2 naming it if not)
    with hold_work_dir(cfg.work_dir, command_line(argv)), \
            work_dir_write_errors(cfg.work_dir):
        build_runner(cfg).train()
    end_distributed()


def end_distributed():
    """All ranks leave together: rank 0 hosts the store, and a peer still tearing down when
    it exits can abort (SIGABRT, 'terminate called without an active exception')."""
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def main(argv=None):
    args = parse_args(argv)
    try:
        with user_errors('train.py'):
            train(args, argv)
    except KeyboardInterrupt:
        # checkpoints are written atomically: the last complete one is what --resume finds
        if os.environ.get('RANK', '0') == '0':
            print(f'train.py: interrupted; resume with: {resume_command(args, argv)}',
                  file=sys.stderr, flush=True)
        sys.exit(130)


if __name__ == '__main__':
    main()
