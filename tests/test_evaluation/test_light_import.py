"""The standalone evaluator starts without mmpose/mmpretrain, and leaves no trace of that in
the environment (processes started afterwards must register normally)."""
import importlib
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_evaluator_does_not_import_openmmlab():
    code = ("import sys; sys.path.insert(0, 'tools/analysis'); import eval_hand_mesh; "
            "print(sorted(m for m in ('mmpose', 'mmpretrain', 'torch') if m in sys.modules))")
    res = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == '[]'


def test_light_import_flag_is_not_leaked(monkeypatch):
    monkeypatch.delenv('MMHANDMIM_LIGHT_IMPORT', raising=False)
    monkeypatch.syspath_prepend(osp.join(ROOT, 'tools', 'analysis'))
    sys.modules.pop('eval_hand_mesh', None)
    importlib.import_module('eval_hand_mesh')
    assert 'MMHANDMIM_LIGHT_IMPORT' not in os.environ
