"""tools/analysis/eval_hand_mesh.py: one real subprocess run, the refusals in-process."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mmhandmim.evaluation import evaluate_hand_mesh, official_scores, write_submission

from .conftest import make_hands

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, 'tools', 'analysis', 'eval_hand_mesh.py')


def _load_tool():
    spec = importlib.util.spec_from_file_location('eval_hand_mesh', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_set(folder, data):
    pred_xyz, pred_verts, gt_xyz, gt_verts = data
    gt_dir = folder / 'gt'
    gt_dir.mkdir(parents=True)
    (gt_dir / 'evaluation_xyz.json').write_text(json.dumps(gt_xyz.tolist()))
    (gt_dir / 'evaluation_verts.json').write_text(json.dumps(gt_verts.tolist()))
    json_path, _ = write_submission(pred_xyz, pred_verts, folder / 'sub')
    return json_path, gt_dir


def test_end_to_end_subprocess(tmp_path):
    data = make_hands(5, seed=3, ho3d=True)
    pred, gt_dir = _write_set(tmp_path, data)
    out = tmp_path / 'out'
    proc = subprocess.run([sys.executable, TOOL, '--pred', str(pred), '--gt-dir', str(gt_dir),
                           '--protocol', 'ho3d', '--out-dir', str(out)],
                          capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'Procrustes' in proc.stdout and 'F@5mm' in proc.stdout
    expected = evaluate_hand_mesh(*data, protocol='ho3d')
    assert json.loads((out / 'scores.json').read_text()) == expected
    lines = (out / 'scores.txt').read_text().splitlines()
    assert lines == ['%s: %f' % kv for kv in official_scores(expected, 'ho3d').items()]
    csv = np.loadtxt(out / 'per_sample.csv', delimiter=',', skiprows=1)
    assert csv.shape == (5, 8) and (csv[:, 0] == np.arange(5)).all()
    assert (out / 'pck_curves.png').stat().st_size > 10000


def _corrupt(kind, pred, gt_dir):
    if kind == 'missing_gt':
        os.remove(gt_dir / 'evaluation_verts.json')
    elif kind == 'truncated':
        text = open(pred).read()
        open(pred, 'w').write(text[:len(text) - 40])
    else:
        xyz, verts = json.load(open(pred))
        if kind == 'count':
            xyz, verts = xyz[:-1], verts[:-1]
        elif kind == 'shape':
            xyz = [x[:20] for x in xyz]
        elif kind == 'nan':
            verts[2][5][0] = float('nan')
        elif kind == 'verts':
            verts = [v[:-1] for v in verts]
        json.dump([xyz, verts], open(pred, 'w'))


@pytest.mark.parametrize('kind, message', [
    ('count', 'expected 4 samples'),
    ('shape', 'expected 21 points per sample, got 20'),
    ('nan', 'non-finite values (NaN) in sample 2'),
    ('verts', '39 vertices per sample but the ground truth has 40'),
    ('truncated', 'invalid JSON at line 1'),
    ('missing_gt', 'evaluation_verts.json'),
])
def test_malformed_input_exits_2_with_one_line(tmp_path, capsys, kind, message):
    pred, gt_dir = _write_set(tmp_path, make_hands(4, seed=1))
    _corrupt(kind, pred, gt_dir)
    code = _load_tool().main(['--pred', str(pred), '--gt-dir', str(gt_dir),
                              '--protocol', 'freihand', '--out-dir', str(tmp_path / 'out')])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.startswith('error: ') and err.count('\n') == 1
    assert 'Traceback' not in err
    assert not (tmp_path / 'out' / 'scores.json').exists()


def test_bad_protocol_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        _load_tool().main(['--pred', 'p', '--gt-dir', 'g', '--protocol', 'x', '--out-dir', 'o'])
    assert exc.value.code == 2
    assert 'invalid choice' in capsys.readouterr().err
