"""tools/analysis/check_mano_integrity.py finds the conventions the data was written with."""
import json
import os.path as osp
import shutil
import sys

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))

TOOLBOX = 'uv_root + scale'
METRIC = 'metric translation'


def _run(root, dataset='freihand'):
    import check_mano_integrity as tool
    return tool.main([dataset, root, '--mano-dir', 'standin', '--num-samples', '6'])


def _assert_generating_conventions(result, root, with_verts):
    rows = result['rows']
    best = min(rows, key=lambda r: (r.get('verts_mm', 0), r['joints_mm']))
    # the conventions the generator recorded (FreiHAND: flat_hand_mean=False; HO3D: True,
    # as real HO3D) and the stand-in's fingertips
    with open(osp.join(root, 'standin_info.json')) as f:
        flat = json.load(f)['mano']['flat_hand_mean']
    assert best['flat_hand_mean'] is flat and best['fingertips'] == 'standin'
    assert best['joints_mm'] < 1e-3
    if with_verts:
        assert best['verts_mm'] < 1e-3
    # the wrong convention is clearly visible in the report
    wrong = [r for r in rows if r['flat_hand_mean'] is not flat
             and r['fingertips'] == 'standin'][0]
    assert wrong['joints_mm'] > 1.0
    return flat


@pytest.mark.parametrize('dataset', ['freihand', 'ho3d'])
def test_reports_the_generating_conventions(mesh_roots, dataset, capsys):
    result = _run(mesh_roots[dataset], dataset)
    flat = _assert_generating_conventions(result, mesh_roots[dataset],
                                          with_verts=dataset == 'freihand')
    out = capsys.readouterr().out
    assert f'best match: flat_hand_mean={flat}' in out
    if dataset == 'freihand':  # the generator writes the official layout
        assert result['stored'] == TOOLBOX and f'this download stores: {TOOLBOX}' in out
        errors = {k.split(' (')[0]: v for k, v in result['conventions'].items()}
        assert errors[TOOLBOX] < 1e-3 and errors[METRIC] > 10.0
    else:
        assert 'stored' not in result


def _rewrite_mano(root, theta_of):
    """Rewrite training_mano.json with ``theta_of(theta (N, 61), xyz, K)``, one flat
    ``[61 values]`` per frame (the nesting the loader accepts besides ``[[61 values]]``)."""
    load = lambda n: np.asarray(json.load(open(osp.join(root, f'training_{n}.json'))))  # noqa
    theta = load('mano').reshape(-1, 61)
    new = theta_of(theta, load('xyz'), load('K'))
    with open(osp.join(root, 'training_mano.json'), 'w') as f:
        json.dump(np.round(new, 10).tolist(), f)
    return theta, new


def test_tells_a_metric_translation_file(mesh_roots, tmp_path, capsys):
    """A file written by hand in the other convention (values 58-61 = the metric MANO
    translation) is recognised as such, and the re-posing report does not change: the
    translation is derived from the joints, not read from those values."""
    from mmhandmim.hand_model import MANOLayer
    layer = MANOLayer('standin').double()

    def metric(theta, xyz, K):
        with torch.no_grad():
            root = layer(torch.from_numpy(theta[:, :48]),
                         torch.from_numpy(theta[:, 48:58]))['joints'][:, 0].numpy()
        return np.concatenate([theta[:, :58], xyz[:, 0] - root], 1)

    root = str(tmp_path / 'freihand')
    shutil.copytree(mesh_roots['freihand'], root)
    old, new = _rewrite_mano(root, metric)
    assert np.abs(old[:, 58:] - new[:, 58:]).max() > 1.0  # the files really differ there
    result = _run(root)
    assert result['stored'] == METRIC
    assert f'this download stores: {METRIC}' in capsys.readouterr().out
    errors = {k.split(' (')[0]: v for k, v in result['conventions'].items()}
    assert errors[METRIC] < 1e-3 and errors[TOOLBOX] > 10.0
    _assert_generating_conventions(result, root, with_verts=True)


def test_tells_neither(mesh_roots, tmp_path, capsys):
    """Values 58-61 that are neither reading (here: the toolbox values of another frame) are
    reported as such, not forced into the closer convention."""
    root = str(tmp_path / 'freihand')
    shutil.copytree(mesh_roots['freihand'], root)
    _rewrite_mano(root, lambda t, xyz, K: np.concatenate([t[:, :58], np.roll(t[:, 58:], 1, 0)],
                                                         1))
    result = _run(root)
    assert result['stored'] is None
    assert 'stores neither reading' in capsys.readouterr().out
