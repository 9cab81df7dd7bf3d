"""Shared test setup: the stack's run-time fixes come before anything imports mmengine, and
the package cache (stand-in hand model, parsed annotation arrays) lives in a temporary folder
for the session, so tests never read or write ~/.cache (subprocesses inherit it)."""
import os
import shutil
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

_CACHE = tempfile.mkdtemp(prefix='mmhandmim_test_cache_')
os.environ['MMHANDMIM_CACHE'] = _CACHE

import mmhandmim  # noqa: E402,F401  (compat fixes first, registrations, checkpoint safety)


@pytest.fixture(scope='session', autouse=True)
def _remove_test_cache():
    yield
    shutil.rmtree(_CACHE, ignore_errors=True)


# Tests that build from a registry use one of these instead of init_default_scope, which
# would leak the scope into every later test (mmengine builds in the default scope).
def _scoped(scope):
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(scope):
        yield


@pytest.fixture
def mmpose_scope():
    """Build from mmpose's registries (mesh datasets, transforms, estimator, metric)."""
    yield from _scoped('mmpose')


@pytest.fixture
def mmpretrain_scope():
    """Build from mmpretrain's registries (pre-training modules)."""
    yield from _scoped('mmpretrain')
