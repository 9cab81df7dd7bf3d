"""Shared plumbing of the ``tools/`` entry points: config loading, pre-flight checks and
turning the errors users cause into one clear line instead of a library traceback."""
import difflib
import inspect
import os
import re
import sys
from contextlib import contextmanager
from typing import Optional

from .errors import UserInputError

#: set to 1 to see the full traceback of errors reported on one line
DEBUG_ENV = 'MMHANDMIM_DEBUG'


def cfg_options_action():
    """mmengine's ``DictAction`` for ``--cfg-options``, with a clear error for values it cannot
    parse: ``key=dict(...)`` sends it into a RecursionError deep in its parser."""
    from mmengine.config import DictAction

    class CfgOptionsAction(DictAction):

        def __call__(self, parser, namespace, values, option_string=None):
            # DictAction takes a short `k=dict(a=1)` as the string "dict(a=1)" and recurses
            # without end on a longer one: neither is what was meant
            bad = [v for v in values if v.partition('=')[2].lstrip().startswith(('dict(', '{'))]
            if not bad:
                try:
                    return super().__call__(parser, namespace, values, option_string)
                except (RecursionError, ValueError, SyntaxError):
                    bad = values[:1]
            parser.error(
                f'{option_string}: cannot parse {bad[0]!r}: dict(...) values are not '
                'supported on the command line; set the keys one by one, e.g. '
                'model.backbone.init_cfg.type=Pretrained '
                'model.backbone.init_cfg.checkpoint=PATH')

    return CfgOptionsAction


def load_config(path, cfg_options=None):
    from mmengine.config import Config, DictAction  # noqa: F401
    if not os.path.isfile(path):
        raise UserInputError(f'config file not found: {path!r} (give the path to a .py '
                             'config, e.g. configs/handmim_vit-b.py)')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def set_work_dir(cfg, work_dir, config_path):
    """``--work-dir`` wins, then the config's ``work_dir``, then ./work_dirs/<config name>."""
    import os.path as osp
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config_path))[0])


def check_file(path, what):
    if path and not os.path.isfile(os.path.expanduser(path)):
        raise UserInputError(f'{what} not found: {path!r}')


def _iter_dataset_cfgs(cfg):
    for loader_key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(loader_key)
        if not loader:
            continue
        stack = [(f'{loader_key}.dataset', loader.get('dataset'))]
        while stack:
            where, ds = stack.pop()
            if not isinstance(ds, dict):
                continue
            yield where, ds
            if isinstance(ds.get('dataset'), dict):  # wrappers: RepeatDataset, ...
                stack.append((f'{where}.dataset', ds['dataset']))
            for i, sub in enumerate(ds.get('datasets') or []):  # ConcatDataset
                stack.append((f'{where}.datasets[{i}]', sub))


def check_data_roots(cfg, loaders=('train_dataloader', 'val_dataloader', 'test_dataloader')):
    """Fail early, naming the config key, when a dataset's ``data_root`` does not exist."""
    for where, ds in _iter_dataset_cfgs(cfg):
        if not where.startswith(loaders):
            continue
        root = ds.get('data_root')
        if root and not os.path.isdir(os.path.expanduser(root)):
            raise UserInputError(
                f'data root not found: {root!r} (set by {where}.data_root). Prepare the data '
                'as README "Data preparation" describes, or point the config at it with '
                f'--cfg-options {where}.data_root=PATH')


_WORKER_PREFIX = re.compile(r'^Caught (\w+) in DataLoader worker process (\d+)\.')


def _one_line(exc):
    msg = str(exc).strip().strip('"\'')
    # torch re-raises a DataLoader worker's error with the worker's whole traceback as its
    # message: keep the original message (the text after the last "<ErrorName>: ")
    worker = _WORKER_PREFIX.match(msg)
    if worker and f'{worker.group(1)}: ' in msg:
        msg = (msg.rsplit(f'{worker.group(1)}: ', 1)[1].strip() +
               f' (in DataLoader worker {worker.group(2)})')
    # mmengine wraps build errors as "class `A` in x: class `B` in y: <root cause>"
    return ' '.join(msg.split())


_BAD_ARGUMENT = re.compile(r"(?:unexpected keyword argument|missing \d+ required "
                           r"(?:positional|keyword-only) arguments?:?) '?(\w+)'?")


def config_argument_error(exc: TypeError) -> Optional[str]:
    """The one-line message for a config that gives a registered type an argument it does not
    take (e.g. ``loss_weigths``) or omits a required one, else None.

    Recognised only when the TypeError was raised by mmengine's ``build_from_cfg`` calling the
    class itself (the innermost frame is the build function, whose ``obj_cls`` local is the
    class): a TypeError from inside a constructor is a bug and keeps its traceback.
    """
    match = _BAD_ARGUMENT.search(str(exc))
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if match is None or tb is None or tb.tb_frame.f_code.co_name != 'build_from_cfg':
        return None
    obj_cls = tb.tb_frame.f_locals.get('obj_cls')
    try:
        params = [n for n, p in inspect.signature(obj_cls).parameters.items()
                  if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    except (TypeError, ValueError):
        return None
    name = getattr(obj_cls, '__name__', str(obj_cls))
    word = match.group(1)
    if 'unexpected' in str(exc):
        close = difflib.get_close_matches(word, params, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ''
        return (f"config error: type='{name}' does not take the argument '{word}' ({hint}"
                f'its arguments: {", ".join(params)})')
    return (f"config error: type='{name}' needs the argument '{word}' (its arguments: "
            f'{", ".join(params)})')


@contextmanager
def user_errors(prog):
    """Report errors a user can fix on one line (exit 2); real bugs keep their traceback."""
    try:
        yield
    except UserInputError as exc:
        # e.g. FiniteLossHook's NonFiniteLossError (exit 1: the run failed): the message
        # names the iteration, the terms and the last checkpoint; a traceback adds nothing
        _report(prog, exc, code=exc.exit_code)
    except FileNotFoundError as exc:  # raised by mmengine/cv2/open for a path the user gave
        _report(prog, exc)
    except TypeError as exc:
        line = config_argument_error(exc)
        if line is None:
            raise
        _report(prog, exc, message=line)
    except KeyError as exc:
        # mmengine's registry names an unknown `type=` only in its message
        if 'registry' in str(exc) and 'is not in the' in str(exc):
            _report(prog, exc, hint='unknown module type: check the spelling of `type=` in '
                    'the config and that custom_imports lists the package that registers it')
        else:
            raise


def _report(prog, exc, hint=None, code=2, message=None):
    if os.environ.get(DEBUG_ENV) == '1':
        raise exc
    line = f'{prog}: error: {message or _one_line(exc)}'
    if hint:
        line += f' ({hint})'
    print(line, file=sys.stderr)
    sys.exit(code)
