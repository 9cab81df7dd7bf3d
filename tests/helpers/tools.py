"""Import a ``tools/<name>.py`` entry point as a module, to call its ``main(argv)`` in-process."""
import importlib.util
import os.path as osp
import sys

TOOLS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools')


def load_tool(name):
    """``tools/<name>.py`` as a module (``tools/`` is on ``sys.path`` while it imports, for
    its ``_bootstrap``)."""
    sys.path.insert(0, TOOLS)
    try:
        spec = importlib.util.spec_from_file_location(f'_tool_{name}',
                                                      osp.join(TOOLS, f'{name}.py'))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(TOOLS)
