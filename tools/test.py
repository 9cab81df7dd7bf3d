"""Evaluate a checkpoint: the OpenMMLab ``tools/test.py`` for mmhandmim.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE.pkl]
                         [--show-dir DIR] [--show] [--interval N] [--wait-time S]
                         [--cfg-options k=v ...] [--launcher {none,pytorch,slurm}]

``--show-dir``/``--show`` enable the config's visualization hook as mmpose's tools/test.py
does (``MeshVisualizationHook`` for the mesh configs; added when the config has none).
"""
import argparse
import os
import os.path as osp
import shlex
import sys

import _bootstrap  # noqa: F401  (repo root on sys.path, compat fixes; must stay first)
from mmhandmim.engine.runner import build_runner
from mmhandmim.engine.work_dir_lock import check_work_dir_writable, work_dir_write_errors
from mmhandmim.utils.cli import (cfg_options_action, check_data_roots, check_file, load_config,
                                 set_work_dir, user_errors)
from mmhandmim.utils.errors import UserInputError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for logs and results')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument('--cfg-options', nargs='+', action=cfg_options_action(),
                        help='override config keys, e.g. test_evaluator.format_only=True')
    parser.add_argument('--show-dir',
                        help='draw the predictions of every --interval-th test sample into '
                        'this folder, relative to {work_dir}/{timestamp}/ (as mmpose)')
    parser.add_argument('--show', action='store_true',
                        help='display the drawings in a window (needs a display)')
    parser.add_argument('--interval', type=int, default=1,
                        help='draw every N-th sample (with --show-dir/--show; default 1)')
    parser.add_argument('--wait-time', type=float, default=1,
                        help='seconds each --show window stays open (default 1)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


MESH_HOOK, MESH_VISUALIZER = 'MeshVisualizationHook', 'HandMeshLocalVisualizer'


def _type_name(t):
    """'Foo' for 'Foo', 'scope.Foo' or the class Foo."""
    return getattr(t, '__name__', str(t)).split('.')[-1]


def enable_visualization(cfg, args):
    """Turn on the config's visualization hook for ``--show-dir``/``--show`` (as mmpose's
    ``merge_args``): a ``MeshVisualizationHook`` in ``default_hooks`` or ``custom_hooks`` first,
    else ``default_hooks.visualization`` of any type, else a new ``MeshVisualizationHook``
    there. For the mesh hook, a visualizer that cannot draw meshes is replaced by
    ``HandMeshLocalVisualizer`` (keeping its name, backends and save_dir)."""
    if args.interval < 1:
        raise UserInputError(f'--interval must be >= 1, got {args.interval}')
    if args.wait_time < 0:
        raise UserInputError(f'--wait-time must be >= 0, got {args.wait_time}')
    if args.show_dir is not None:
        if not args.show_dir.strip():
            raise UserInputError('--show-dir must not be empty')
        if osp.isfile(args.show_dir):
            raise UserInputError(f'--show-dir is an existing file: {args.show_dir!r}')
    if args.show and sys.platform.startswith('linux') and not (
            os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')):
        raise UserInputError('--show needs a display (DISPLAY is not set); use --show-dir '
                             'DIR to write the drawings instead')
    if cfg.get('default_hooks') is None:
        cfg.default_hooks = dict()
    hooks = [h for h in cfg.default_hooks.values() if isinstance(h, dict)]
    hooks += [h for h in cfg.get('custom_hooks') or [] if isinstance(h, dict)]
    hook = next((h for h in hooks if _type_name(h.get('type')) == MESH_HOOK), None)
    if hook is None:
        hook = cfg.default_hooks.get('visualization')
    if hook is None:
        cfg.default_hooks['visualization'] = dict(type=MESH_HOOK)
        hook = cfg.default_hooks['visualization']  # the ConfigDict the assignment made
    hook.update(enable=True, show=args.show, out_dir=args.show_dir, interval=args.interval)
    if args.show:
        hook['wait_time'] = args.wait_time
    if _type_name(hook.get('type')) == MESH_HOOK:
        _use_mesh_visualizer(cfg)
    return hook


def _use_mesh_visualizer(cfg):
    from mmpose.registry import VISUALIZERS

    from mmhandmim.engine.hand_mesh_visualizer import HandMeshLocalVisualizer
    vis = cfg.get('visualizer')
    if vis is not None:
        t = vis.get('type')
        cls = t if isinstance(t, type) else VISUALIZERS.get(t)
        if cls is None or issubclass(cls, HandMeshLocalVisualizer):
            return  # ours, or unknown: the runner reports an unknown type on one line
        print(f'test.py: drawing with {MESH_VISUALIZER} instead of the config\'s '
              f'{_type_name(t)}')
    keep = {k: vis[k] for k in ('name', 'vis_backends', 'save_dir') if k in (vis or {})}
    keep.setdefault('vis_backends', [dict(type='LocalVisBackend')])
    cfg.visualizer = dict(type=MESH_VISUALIZER, **keep)


def test(args):
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
    if args.show or args.show_dir is not None:
        enable_visualization(cfg, args)
    check_work_dir_writable(cfg.work_dir)  # the logs go there: one line now, not a traceback
    with work_dir_write_errors(cfg.work_dir):
        # a checkpoint that leaves weights unloaded (a backbone file, a pre-training
        # checkpoint) is refused: the test would score a random head
        build_runner(cfg, complete_weights=True).test()


def main(argv=None):
    args = parse_args(argv)
    try:
        with user_errors('test.py'):
            test(args)
    except KeyboardInterrupt:
        if os.environ.get('RANK', '0') == '0':
            argv = sys.argv[1:] if argv is None else list(argv)
            print('test.py: interrupted; rerun with: '
                  f'{shlex.join(["python", osp.relpath(osp.abspath(__file__)), *argv])}',
                  file=sys.stderr, flush=True)
        sys.exit(130)


if __name__ == '__main__':
    main()
