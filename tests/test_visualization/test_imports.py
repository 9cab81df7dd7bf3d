"""The visualisation package stays light: no OpenMMLab imports in its own modules."""
import ast
import os

import mmhandmim.visualization as vis

HEAVY = ('mmengine', 'mmpose', 'mmcv', 'mmpretrain', 'mmdet')


def test_visualization_modules_import_no_openmmlab():
    pkg_dir = os.path.dirname(vis.__file__)
    for name in sorted(os.listdir(pkg_dir)):
        if not name.endswith('.py'):
            continue
        with open(os.path.join(pkg_dir, name)) as fh:
            tree = ast.parse(fh.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                mods = [node.module or '']
            else:
                continue
            assert not [m for m in mods if m.split('.')[0] in HEAVY], (name, mods)
    assert set(vis.__all__) <= set(dir(vis))
