"""The package's own imports keep its layering: no circles, no import from a lower floor to
a higher one, the stand-in known only to the registration, and small modules.

Read from the source (``ast``), function-level imports included, so an import moved into a
function to dodge a circle still counts.
"""
import ast
import os
import os.path as osp
from collections import defaultdict

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PACKAGE = osp.join(ROOT, 'mmhandmim')

#: floor of each top-level part; a part may import only from lower floors (and itself)
FLOORS = {
    'version': 0, 'compat': 0, 'utils': 0,
    'structures': 1,
    'hand_model': 2, 'visualization': 2,
    'datasets': 3, 'standin': 3, 'engine': 3,
    'models': 4, 'evaluation': 4,
    'apis': 5,
    'registration': 6, '': 7,  # '' is mmhandmim/__init__.py
}
#: the only importers of the stand-in outside its own package
STANDIN_IMPORTERS = {'mmhandmim.registration'}
MAX_LINES = 400


def _modules():
    found = {}
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if not d.startswith(('.', '__'))]
        for name in files:
            if name.endswith('.py'):
                path = osp.join(folder, name)
                parts = osp.relpath(path, ROOT)[:-3].split(os.sep)
                if parts[-1] == '__init__':
                    parts = parts[:-1]
                found['.'.join(parts)] = path
    return found


MODULES = _modules()


def _resolve(base, names):
    """The package modules an import statement loads (``from a import b``: a.b if a module)."""
    subs = [f'{base}.{name}' for name in names if f'{base}.{name}' in MODULES]
    # ``from pkg import sub`` loads sub; pkg counts only when a name comes from its __init__
    own = base in MODULES and len(subs) < len(names)
    return subs + ([base] if own or (base in MODULES and not names) else [])


def _imports(module, path):
    is_pkg = path.endswith('__init__.py')
    out = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split('.')[0] == 'mmhandmim':
                    out.update(_resolve(alias.name, []))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                pkg = module.split('.') if is_pkg else module.split('.')[:-1]
                pkg = pkg[:len(pkg) - node.level + 1]
                base = '.'.join(pkg + ([node.module] if node.module else []))
            else:
                base = node.module or ''
            if base.split('.')[0] == 'mmhandmim':
                out.update(_resolve(base, [a.name for a in node.names]))
    out.discard(module)
    return out


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _part(module):
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else ''


def test_the_import_reader_sees_relative_and_function_level_imports():
    # a property of the reader itself: these imports are known to exist
    assert 'mmhandmim.structures' in GRAPH['mmhandmim.models.mesh.estimator']
    assert 'mmhandmim.utils.errors' in GRAPH['mmhandmim.utils.cli']
    assert 'mmhandmim.standin' in GRAPH['mmhandmim.registration']


def test_every_part_has_a_floor():
    assert {_part(m) for m in MODULES} <= set(FLOORS), \
        'a new top-level part of the package needs a floor in FLOORS'


def test_no_import_from_a_lower_floor_to_a_higher_one():
    wrong = [f'{m} -> {t}' for m, targets in GRAPH.items() for t in sorted(targets)
             if _part(t) != _part(m) and FLOORS[_part(t)] >= FLOORS[_part(m)]]
    assert not wrong, '\n'.join(wrong)


def test_general_code_does_not_know_the_standin():
    wrong = [f'{m} -> {t}' for m, targets in GRAPH.items() for t in sorted(targets)
             if _part(t) == 'standin' and _part(m) != 'standin' and m not in STANDIN_IMPORTERS]
    assert not wrong, '\n'.join(wrong)


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                result.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return result


def test_cycle_finder_finds_a_cycle():
    assert _cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]


def _without_package_inits(graph):
    # ``pkg/__init__`` importing its own submodules, which import each other, is how a
    # package exposes its names; a circle through the ``__init__`` of the importer's own
    # package is what Python resolves at once and not a layering problem
    out = defaultdict(set)
    for m, targets in graph.items():
        for t in targets:
            if not m.startswith(t + '.'):
                out[m].add(t)
    return out


def test_no_import_circles():
    assert _cycles(_without_package_inits(GRAPH)) == []


@pytest.mark.parametrize('module', sorted(MODULES))
def test_modules_stay_small(module):
    with open(MODULES[module]) as f:
        lines = sum(1 for _ in f)
    assert lines <= MAX_LINES, f'{MODULES[module]}: {lines} lines; split it by concern'
