"""Unpickling annotation files without running code from them.

A pickle can call any importable function while it loads (``os.system`` included), so files
that come with datasets (HO3D's meta files, MANO's model) are read with an unpickler that
rebuilds numpy arrays and plain Python values and refuses every other class, before anything
of the file has run.
"""
import importlib
import pickle
from typing import Any

from .errors import UserInputError

#: what numpy arrays, dtypes and scalars pickle to (numpy 1 and 2 module names)
NUMPY_NAMES = {
    ('numpy', 'ndarray'), ('numpy', 'dtype'), ('numpy', 'matrix'),
    ('numpy.core.multiarray', '_reconstruct'), ('numpy.core.multiarray', 'scalar'),
    ('numpy.core.numeric', '_frombuffer'), ('numpy._core.multiarray', '_reconstruct'),
    ('numpy._core.multiarray', 'scalar'), ('numpy._core.numeric', '_frombuffer'),
    ('numpy.matrixlib.defmatrix', 'matrix'),
}
# Protocol-2 pickles name Python 2 modules (the base find_class maps them to Python 3): MANO's
# use copy_reg._reconstructor for objects; Python 3 writes bytes as _codecs.encode(str, 'latin1').
BUILTIN_NAMES = {(mod, name) for mod in ('builtins', '__builtin__')
                 for name in ('object', 'set', 'frozenset', 'slice', 'complex')}
BUILTIN_NAMES |= {('copyreg', '_reconstructor'), ('copy_reg', '_reconstructor'),
                  ('_codecs', 'encode')}


class UnsafePickleError(UserInputError, pickle.UnpicklingError):
    """A pickle that wants a class or function its kind of file never holds."""


def resolve_numpy(module: str, name: str):
    """numpy's ``module.name``, whichever of numpy 1 or 2 wrote the pickle."""
    for candidate in (module, module.replace('numpy._core', 'numpy.core'),
                      module.replace('numpy.core', 'numpy._core')):
        try:
            return getattr(importlib.import_module(candidate), name)
        except (ImportError, AttributeError):
            continue
    raise UnsafePickleError(f'numpy has no {module}.{name} to rebuild the array with.')


class ArrayUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and builtins only; subclasses allow more in ``allowed_class``.

    Args:
        file: the open binary file.
        what (str): what the file is, for the refusal ("a HO3D meta file").
    """

    def __init__(self, file, what: str = 'this kind of file', **kwargs):
        kwargs.setdefault('encoding', 'latin1')  # Python 2 pickles (MANO, HO3D v2)
        super().__init__(file, **kwargs)
        self.what = what

    def allowed_class(self, module: str, name: str):
        """The class for ``module.name`` beyond numpy and builtins, or None to refuse it."""
        return None

    def find_class(self, module, name):
        if (module, name) in NUMPY_NAMES:
            return resolve_numpy(module, name)
        if (module, name) in BUILTIN_NAMES:
            return super().find_class(module, name)
        found = self.allowed_class(module, name)
        if found is not None:
            return found
        raise self.refusal(module, name)

    def refusal(self, module: str, name: str) -> Exception:
        return UnsafePickleError(
            f'refusing to load {module}.{name} from {getattr(self, "name", "the pickle")}: '
            f'{self.what} holds only numpy arrays and plain values, so this file is not one '
            '(nothing of it was run)')


def load_array_pickle(path: str, what: str) -> Any:
    """Unpickle ``path`` with :class:`ArrayUnpickler` (numpy arrays and builtins only)."""
    with open(path, 'rb') as f:
        unpickler = ArrayUnpickler(f, what=what)
        unpickler.name = path
        return unpickler.load()
