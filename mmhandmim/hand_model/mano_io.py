"""Chumpy-free, restricted loading of MANO-format pickles.

The official ``MANO_RIGHT.pkl``/``MANO_LEFT.pkl`` store some arrays as chumpy objects, and
chumpy does not import on Python 3.11 nor with numpy >= 1.24. ``MANOUnpickler`` maps every
``chumpy.*`` class to a small record that keeps its pickled state, then turns those records into
numpy arrays. It is also a safety boundary: only numpy, scipy.sparse and the few builtins that
arrays need can be created; any other class is refused (a pickle can otherwise run code).
"""
import os
import pickle
from types import MappingProxyType
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np

from ..utils.errors import UserInputError
from ..utils.safe_pickle import ArrayUnpickler

MANO_URL = 'https://mano.is.tue.mpg.de'
DEFAULT_MANO_DIR = os.path.join('data', 'mano')
MANO_DIR_ENV = 'MMHANDMIM_MANO_DIR'
MANO_FILENAMES = {True: 'MANO_RIGHT.pkl', False: 'MANO_LEFT.pkl'}

# (module, name) pairs a numpy array / scipy sparse pickle needs; numpy.core moved to numpy._core
# in numpy 2, both spellings are accepted and resolved on the installed numpy.
_SPARSE_NAMES = {'csc_matrix', 'csr_matrix', 'coo_matrix', 'lil_matrix', 'dok_matrix',
                 'bsr_matrix', 'dia_matrix', 'csc_array', 'csr_array', 'coo_array'}


class ChumpyRecord:
    """What a chumpy object unpickles to: its class name and its pickled state."""

    chumpy_class = 'chumpy.?'
    state = MappingProxyType({})   # read-only default: an object pickled without state

    def __init__(self, *args, **kwargs):
        # chumpy's own constructor args (rare in pickles) are kept like state
        self.state = {'args': args, **kwargs}

    def __setstate__(self, state):
        # state may be a dict, or (dict, slots) for classes with __slots__
        if isinstance(state, tuple) and len(state) == 2:
            merged = dict(state[0] or {})
            merged.update(state[1] or {})
            state = merged
        self.state = dict(state) if isinstance(state, dict) else {'value': state}

    def __repr__(self):
        return f'<{self.chumpy_class} record, keys={sorted(self.state)}>'


_RECORD_CLASSES: Dict[str, type] = {}


def _record_class(module: str, name: str) -> type:
    key = f'{module}.{name}'
    if key not in _RECORD_CLASSES:
        _RECORD_CLASSES[key] = type(name, (ChumpyRecord,), {'chumpy_class': key})
    return _RECORD_CLASSES[key]


class MANOPickleError(UserInputError, pickle.UnpicklingError):
    """A pickle ``MANOUnpickler`` refuses or cannot turn into arrays (its own message)."""


class MANOUnpickler(ArrayUnpickler):
    """Unpickler that allows numpy, scipy.sparse and chumpy (as records) and nothing else."""

    def allowed_class(self, module, name):
        if module == 'chumpy' or module.startswith('chumpy.'):
            return _record_class(module, name)
        if module.startswith('scipy.sparse') and name in _SPARSE_NAMES:
            import scipy.sparse
            return getattr(scipy.sparse, name)
        return None

    def refusal(self, module, name):
        return MANOPickleError(
            f'Refusing to load {module}.{name} from a MANO pickle: only numpy arrays, '
            'scipy.sparse matrices and chumpy arrays are allowed in a MANO model file. '
            'If this file is not a MANO model, do not load it as one.')


# How chumpy's reordering classes compute their value from their operand 'a'.
_REORDER = {
    'Select': lambda a, s: (a.ravel()[np.asarray(s['idxs'])].reshape(s['preferred_shape'])
                            if 'preferred_shape' in s else a.ravel()[np.asarray(s['idxs'])]),
    'Reshape': lambda a, s: a.reshape(s['newshape']),
    'transpose': lambda a, s: np.ascontiguousarray(np.transpose(a, s.get('axes'))),
    'Tile': lambda a, s: np.tile(a, s['reps']),
    'Repeat': lambda a, s: np.repeat(a, s['repeats'], s.get('axis')),
    'rollaxis': lambda a, s: np.rollaxis(a, s['axis'], s.get('start', 0)),
    'swapaxes': lambda a, s: np.swapaxes(a, s['axis1'], s['axis2']),
    'Roll': lambda a, s: np.roll(a, s['shift'], s.get('axis')),
    'Rot90': lambda a, s: np.rot90(a, s['k']),
    'Diag': lambda a, s: np.diag(a, s.get('k', 0)),
    'DiagFlat': lambda a, s: np.diagflat(a, s.get('k', 0)),
}


def chumpy_to_numpy(obj: Any, where: str = 'value') -> Any:
    """Replace chumpy records (recursively in dicts/lists/tuples) by numpy arrays."""
    if isinstance(obj, ChumpyRecord):
        return _record_value(obj, where)
    if isinstance(obj, dict):
        return {k: chumpy_to_numpy(v, f'{where}[{k!r}]') for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(chumpy_to_numpy(v, f'{where}[{i}]') for i, v in enumerate(obj))
    return obj


def _record_value(rec: ChumpyRecord, where: str) -> np.ndarray:
    state, name = rec.state, rec.chumpy_class.rsplit('.', 1)[-1]
    if 'x' in state and not isinstance(state['x'], ChumpyRecord):
        return np.asarray(state['x'])  # a plain chumpy.Ch stores its array as 'x'
    if 'a' in state and name in _REORDER:
        return np.asarray(_REORDER[name](_record_value_or_array(state['a'], where), state))
    if 'x' in state:
        return _record_value(state['x'], where)
    if 'r' in state:
        return np.asarray(state['r'])
    raise MANOPickleError(
        f'{where} is a chumpy {rec.chumpy_class} object without a stored array (state keys '
        f'{sorted(state)}); only chumpy.Ch arrays and chumpy.reordering operations can be read '
        'without chumpy. Convert the file once where chumpy works (Python <= 3.10, numpy < 1.24) '
        'with smplx\'s tools/clean_ch.py, or report the file layout.')


def _record_value_or_array(obj, where):
    return _record_value(obj, where) if isinstance(obj, ChumpyRecord) else np.asarray(obj)


class MANONotFoundError(UserInputError, FileNotFoundError):
    """No MANO model file where the config or the environment points."""


def mano_not_found_message(path: str) -> str:
    return (
        f'MANO model file not found: {path!r}.\n'
        f'MANO is licence-gated and not shipped with mmhandmim: register at {MANO_URL}, accept '
        'the licence, download "Models & Code" and copy MANO_RIGHT.pkl and MANO_LEFT.pkl '
        f'(from mano_v*_*/models/) into {DEFAULT_MANO_DIR}/ (the default directory, relative to '
        'the working directory).\n'
        f'To use another directory, set model_path=... in the config (MANOLayer) or the '
        f'environment variable {MANO_DIR_ENV}.\n'
        "For tests and smoke runs without MANO, use model_path='standin' (a procedural "
        'stand-in hand model, not MANO).')


#: the metadata key that marks a MANO-format pickle as a stand-in hand model (not MANO); its
#: value holds at least ``name`` and ``fingertip_ids`` (the model's own tip vertices)
STANDIN_KEY = 'standin_info'

#: ``model_path`` names that a provider resolves to a folder of MANO-format pickles; a hand
#: model that is not MANO registers itself here (``mmhandmim.standin`` adds 'standin')
_NAMED_MODELS: Dict[str, Callable[[], str]] = {}


def register_named_model(name: str, provider: Callable[[], str]) -> None:
    """Let ``model_path=name`` mean the folder ``provider()`` returns (built on demand)."""
    _NAMED_MODELS[name] = provider


def is_standin(data: Dict[str, Any]) -> bool:
    """True when a loaded MANO-format dict is a stand-in (it carries ``STANDIN_KEY``)."""
    return isinstance(data.get(STANDIN_KEY), dict)


def resolve_mano_file(model_path: Optional[str] = None, is_rhand: bool = True) -> str:
    """Path of the MANO pickle for ``model_path`` (a directory or a .pkl file).

    ``None`` means ``$MMHANDMIM_MANO_DIR`` if set, else ``data/mano``; a registered name
    (``'standin'``: the stand-in hand model's cache directory) means its provider's folder.

    Raises:
        FileNotFoundError: no such file, with set-up instructions.
    """
    if model_path is None:
        model_path = os.environ.get(MANO_DIR_ENV) or DEFAULT_MANO_DIR
    if model_path in _NAMED_MODELS:
        model_path = _NAMED_MODELS[model_path]()
    elif model_path == 'standin':
        raise MANONotFoundError("model_path='standin' is registered by mmhandmim.standin: "
                                '`import mmhandmim` (or mmhandmim.standin) first')
    model_path = os.path.expanduser(str(model_path))
    path = (os.path.join(model_path, MANO_FILENAMES[bool(is_rhand)])
            if os.path.isdir(model_path) or not model_path.endswith('.pkl') else model_path)
    if not os.path.isfile(path):
        raise MANONotFoundError(mano_not_found_message(path))
    return path


#: arrays every MANO model file holds (what smplx.MANO reads)
MANO_KEYS = ('v_template', 'shapedirs', 'posedirs', 'J_regressor', 'weights', 'kintree_table',
             'f', 'hands_components', 'hands_mean')


def load_raw_mano(path: str) -> Dict[str, Any]:
    """Unpickle a MANO-format file with ``MANOUnpickler``; chumpy objects stay records."""
    path = os.path.expanduser(str(path))
    if os.path.isdir(path):
        raise IsADirectoryError(f'{path!r} is a directory; pass a MANO_RIGHT.pkl/MANO_LEFT.pkl '
                                'file, or use resolve_mano_file(dir, is_rhand).')
    if not os.path.isfile(path):
        raise MANONotFoundError(mano_not_found_message(path))
    with open(path, 'rb') as f:
        try:
            data = MANOUnpickler(f).load()
        except MANOPickleError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, IndexError, TypeError) as exc:
            raise pickle.UnpicklingError(
                f'{path!r} is not a readable MANO model pickle ({type(exc).__name__}: {exc}); '
                'expected MANO_RIGHT.pkl/MANO_LEFT.pkl from https://mano.is.tue.mpg.de or '
                'a file written by tools/model_converters/mano_to_clean_pickle.py') from None
    if not isinstance(data, dict):
        raise pickle.UnpicklingError(
            f'{path!r} holds a {type(data).__name__}, not the dict a MANO model file holds.')
    return data


def check_mano_keys(data: Dict[str, Any], path: str) -> None:
    """Raise a KeyError naming the file and the arrays a MANO model needs but it lacks."""
    missing = [k for k in MANO_KEYS if k not in data]
    if missing:
        raise KeyError(f'{path!r} is not a MANO model file: it lacks {", ".join(missing)} '
                       f'(a MANO pickle holds {", ".join(MANO_KEYS)})')


def load_mano_dict(path: str) -> Dict[str, Any]:
    """Load a MANO-format pickle (official or clean) as a dict of numpy / scipy.sparse values.

    Never imports chumpy and never creates objects other than arrays (see ``MANOUnpickler``).
    """
    return chumpy_to_numpy(load_raw_mano(path), where=os.path.basename(str(path)))


def rest_root_coefficients(model_path: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(a, B)`` with MANO's rest-pose root joint ``J_root(betas) = a + B @ betas``.

    The root joint is ``J_regressor[0] @ (v_template + shapedirs @ betas)``: linear in betas,
    and the centre of the global rotation, so a posed hand's root is ``J_root + trans``.

    Args:
        model_path: a folder with MANO_RIGHT.pkl, a .pkl file or a registered name
            ('standin'), as ``MANOLayer(model_path=...)`` takes it.

    Returns:
        Tuple[np.ndarray, np.ndarray]: ``a`` (3,) and ``B`` (3, 10), float64.
    """
    path = resolve_mano_file(model_path, is_rhand=True)
    data = load_mano_dict(path)
    check_mano_keys(data, path)
    reg = data['J_regressor']
    row = (reg[0].toarray() if hasattr(reg, 'toarray') else np.asarray(reg)[0]).ravel()
    shapedirs = np.asarray(data['shapedirs'], np.float64)[..., :10]
    return (row.astype(np.float64) @ np.asarray(data['v_template'], np.float64),
            np.einsum('v,vcb->cb', row.astype(np.float64), shapedirs))
