"""tools/analysis/check_mano_integrity.py finds the conventions the data was written with."""
import os.path as osp
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(ROOT, 'tools', 'analysis'))


@pytest.mark.parametrize('dataset', ['freihand', 'ho3d'])
def test_reports_the_generating_conventions(mesh_roots, dataset, capsys):
    import check_mano_integrity as tool
    rows = tool.main([dataset, mesh_roots[dataset], '--mano-dir', 'standin',
                      '--num-samples', '6'])
    best = min(rows, key=lambda r: (r.get('verts_mm', 0), r['joints_mm']))
    # the generator stores flat_hand_mean=False parameters and the stand-in's fingertips
    assert best['flat_hand_mean'] is False and best['fingertips'] == 'standin'
    assert best['joints_mm'] < 1e-3
    if dataset == 'freihand':
        assert best['verts_mm'] < 1e-3
    # the wrong convention is clearly visible in the report
    wrong = [r for r in rows if r['flat_hand_mean'] and r['fingertips'] == 'standin'][0]
    assert wrong['joints_mm'] > 1.0
    assert 'best match: flat_hand_mean=False' in capsys.readouterr().out
