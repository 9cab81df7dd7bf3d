import importlib.util
import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse as sp

from mmhandmim.hand_model.mano_io import MANO_DIR_ENV, load_mano_dict, resolve_mano_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _fake_chumpy_pickle(tmp_path, payload_fn):
    """Pickle ``payload_fn(Ch, Select, transpose)`` with fake chumpy classes, then remove them.

    The fake classes pickle like chumpy's: protocol 2, state in ``__dict__`` ('x' for Ch).
    """
    mods = {name: types.ModuleType(name) for name in ('chumpy', 'chumpy.ch',
                                                      'chumpy.reordering')}

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x)
            self._dirty_vars = set()

    class Select:
        def __init__(self, a, idxs, preferred_shape):
            self.a, self.idxs, self.preferred_shape = a, np.asarray(idxs), preferred_shape

    class transpose:  # noqa: N801 - chumpy's spelling
        def __init__(self, a, axes):
            self.a, self.axes = a, axes

    for cls, mod in ((Ch, 'chumpy.ch'), (Select, 'chumpy.reordering'),
                     (transpose, 'chumpy.reordering')):
        cls.__module__, cls.__qualname__ = mod, cls.__name__
        setattr(mods[mod], cls.__name__, cls)
    sys.modules.update(mods)
    try:
        path = tmp_path / 'MANO_RIGHT.pkl'
        path.write_bytes(pickle.dumps(payload_fn(Ch, Select, transpose), protocol=2))
    finally:
        for name in mods:
            del sys.modules[name]
    return path


def test_chumpy_objects_load_as_arrays_without_chumpy(tmp_path):
    rng = np.random.default_rng(0)
    shapedirs, base = rng.normal(size=(5, 3, 10)), rng.normal(size=(4, 6))
    regressor = sp.csc_matrix(rng.random((16, 5)))
    path = _fake_chumpy_pickle(tmp_path, lambda Ch, Select, transpose: {
        'shapedirs': Ch(shapedirs),
        'selected': Select(Ch(base), [5, 0, 7, 3], (2, 2)),
        'transposed': transpose(Ch(base), (1, 0)),
        'J_regressor': regressor,
        'f': np.arange(9, dtype=np.uint32).reshape(3, 3),
        'bs_style': 'lbs'})
    assert 'chumpy' not in sys.modules and 'chumpy.ch' not in sys.modules
    with pytest.raises(ModuleNotFoundError):  # proof that a plain unpickler needs chumpy
        pickle.loads(path.read_bytes(), encoding='latin1')
    data = load_mano_dict(str(path))
    assert isinstance(data['shapedirs'], np.ndarray)
    assert np.array_equal(data['shapedirs'], shapedirs)
    assert np.array_equal(data['selected'], base.ravel()[[5, 0, 7, 3]].reshape(2, 2))
    assert np.array_equal(data['transposed'], base.T)
    assert sp.issparse(data['J_regressor'])
    assert np.array_equal(data['J_regressor'].toarray(), regressor.toarray())
    assert data['bs_style'] == 'lbs' and data['f'].dtype == np.uint32
    assert 'chumpy' not in sys.modules


class _MakeDir:
    """A pickle payload that would run code (os.mkdir) when loaded by a plain unpickler."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (self.target,))


class Custom:
    pass


def test_foreign_classes_are_refused(tmp_path):
    target = str(tmp_path / 'pwned')
    evil = tmp_path / 'evil.pkl'
    evil.write_bytes(pickle.dumps({'f': np.zeros(3), 'x': _MakeDir(target)}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match='mkdir'):
        load_mano_dict(str(evil))
    assert not os.path.exists(target)

    custom = tmp_path / 'custom.pkl'
    custom.write_bytes(pickle.dumps({'v_template': Custom()}))
    with pytest.raises(pickle.UnpicklingError, match='Custom'):
        load_mano_dict(str(custom))

    not_a_dict = tmp_path / 'list.pkl'
    not_a_dict.write_bytes(pickle.dumps([np.zeros(2)]))
    with pytest.raises(pickle.UnpicklingError, match='not the dict'):
        load_mano_dict(str(not_a_dict))


def test_chumpy_object_without_array_is_reported(tmp_path):
    path = _fake_chumpy_pickle(tmp_path, lambda Ch, Select, transpose: {
        'weights': Select.__new__(Select)})
    with pytest.raises(pickle.UnpicklingError, match=r"weights.*chumpy\.reordering\.Select"):
        load_mano_dict(str(path))


def test_missing_mano_file_explains_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(MANO_DIR_ENV, raising=False)
    with pytest.raises(FileNotFoundError) as err:
        resolve_mano_file(None, is_rhand=True)
    msg = str(err.value)
    for text in ('https://mano.is.tue.mpg.de', 'MANO_RIGHT.pkl', 'MANO_LEFT.pkl',
                 os.path.join('data', 'mano'), 'model_path=', MANO_DIR_ENV, 'standin'):
        assert text in msg, text
    assert os.path.join('data', 'mano', 'MANO_RIGHT.pkl') in msg

    monkeypatch.setenv(MANO_DIR_ENV, str(tmp_path / 'elsewhere'))
    with pytest.raises(FileNotFoundError, match='elsewhere.*MANO_LEFT.pkl'):
        resolve_mano_file(None, is_rhand=False)
    with pytest.raises(FileNotFoundError, match='mano.is.tue.mpg.de'):
        load_mano_dict(str(tmp_path / 'MANO_RIGHT.pkl'))


def test_resolve_accepts_dir_file_and_env(standin_dir, monkeypatch):
    right = os.path.join(standin_dir, 'MANO_RIGHT.pkl')
    assert resolve_mano_file(standin_dir, True) == right
    assert resolve_mano_file(right, False) == right          # an explicit file wins
    monkeypatch.setenv(MANO_DIR_ENV, standin_dir)
    assert resolve_mano_file(None, False) == os.path.join(standin_dir, 'MANO_LEFT.pkl')
    assert resolve_mano_file('standin', True) == right


def _converter():
    spec = importlib.util.spec_from_file_location(
        'mano_to_clean_pickle',
        os.path.join(ROOT, 'tools', 'model_converters', 'mano_to_clean_pickle.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_clean_pickle_converter(tmp_path, capsys):
    shapedirs = np.random.default_rng(1).normal(size=(4, 3, 10))
    src = _fake_chumpy_pickle(tmp_path, lambda Ch, Select, transpose: {
        'shapedirs': Ch(shapedirs), 'f': np.zeros((2, 3), np.uint32)})
    out = tmp_path / 'clean' / 'MANO_RIGHT.pkl'
    tool = _converter()
    tool.main([str(src), str(out)])
    assert "converted from chumpy: ['shapedirs']" in capsys.readouterr().out
    with open(out, 'rb') as f:   # plain pickle, no chumpy needed any more
        clean = pickle.load(f)
    assert np.array_equal(clean['shapedirs'], shapedirs)
    assert set(clean) == {'shapedirs', 'f'}
    before = out.read_bytes()
    with pytest.raises(FileExistsError, match='--force'):
        tool.main([str(src), str(out)])
    assert out.read_bytes() == before
    tool.main([str(src), str(out), '--force'])
    assert not os.path.exists(str(out) + '.tmp')
