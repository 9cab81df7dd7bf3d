import numpy as np
import pytest

from mmhandmim.evaluation import evaluate_hand_mesh, official_scores

from .conftest import make_hands
from .official_reference import official_eval

KEYS = ['mpjpe', 'pa_mpjpe', 'mpvpe', 'pa_mpvpe', 'auc_j', 'pa_auc_j', 'auc_v', 'pa_auc_v',
        'f5', 'pa_f5', 'f15', 'pa_f15']


@pytest.mark.parametrize('protocol', ['freihand', 'ho3d'])
def test_matches_official_loop_implementation(protocol):
    ho3d = protocol == 'ho3d'
    data = make_hands(8, seed=5, ho3d=ho3d)
    ours = evaluate_hand_mesh(*data, protocol=protocol)
    ref = official_eval(*data, ho3d=ho3d)
    expected_keys = KEYS + (['st_mpjpe', 'st_auc_j'] if ho3d else [])
    assert sorted(ours) == sorted(expected_keys)
    for key in expected_keys:
        assert ours[key] == pytest.approx(ref[key], rel=1e-12, abs=1e-15), key
    assert 0 < ours['pa_f5'] < 1 and 0 < ours['pa_auc_v'] < 1  # informative test data


def test_perfect_prediction():
    _, _, gt_xyz, gt_verts = make_hands(3)
    res = evaluate_hand_mesh(gt_xyz, gt_verts, gt_xyz, gt_verts)
    assert res['mpjpe'] == res['mpvpe'] == 0
    assert res['pa_mpjpe'] < 1e-4 and res['pa_mpvpe'] < 1e-4  # mm; official 1e-8 terms
    assert res['auc_j'] == res['auc_v'] == res['f5'] == res['pa_f15'] == 1


def test_per_sample_and_curves(hands):
    res = evaluate_hand_mesh(*hands, return_per_sample=True)
    per = res['per_sample']
    assert per['pa_mpvpe'].shape == (6,)
    assert np.mean(per['pa_f5']) == pytest.approx(res['pa_f5'])
    # every sample has the same point count, so the per-sample means average to the total
    assert np.mean(per['mpjpe']) == pytest.approx(res['mpjpe'])
    curves = res['pck_curves']
    assert curves['thresholds_mm'][-1] == pytest.approx(50)
    assert curves['pa_v'].shape == (100,) and curves['pa_v'][-1] >= curves['pa_v'][0]


@pytest.mark.parametrize('change, message', [
    (lambda d: (d[0][:-1], d[1], d[2], d[3]), 'pred_xyz: expected 6 samples'),
    (lambda d: (d[0][:, :20], d[1], d[2], d[3]), 'expected 21 points'),
    (lambda d: (d[0][..., :2], d[1], d[2], d[3]), 'expected shape (N, K, 3)'),
    (lambda d: (d[0], d[1][:, :-1], d[2], d[3]), '39 vertices per sample but the ground '
     'truth has 40'),
])
def test_malformed_input_is_refused(hands, change, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(')', r'\)')):
        evaluate_hand_mesh(*change(hands))


@pytest.mark.parametrize('bad', [np.nan, np.inf])
def test_non_finite_values_name_the_sample(hands, bad):
    pred_verts = hands[1].copy()
    pred_verts[4, 7, 1] = bad
    kind = 'NaN' if np.isnan(bad) else 'inf'
    with pytest.raises(ValueError, match=f'pred_verts: non-finite values \\({kind}\\) in '
                       'sample 4'):
        evaluate_hand_mesh(hands[0], pred_verts, hands[2], hands[3])


def test_unknown_protocol(hands):
    with pytest.raises(ValueError, match='protocol'):
        evaluate_hand_mesh(*hands, protocol='ho3d_v4')


def test_official_score_names_and_units(hands):
    res = evaluate_hand_mesh(*hands, protocol='ho3d')
    fh = official_scores(res, 'freihand')
    assert list(fh) == ['xyz_mean3d', 'xyz_auc3d', 'xyz_al_mean3d', 'xyz_al_auc3d',
                        'mesh_mean3d', 'mesh_auc3d', 'mesh_al_mean3d', 'mesh_al_auc3d',
                        'f_score_5', 'f_al_score_5', 'f_score_15', 'f_al_score_15']
    assert fh['xyz_al_mean3d'] == pytest.approx(res['pa_mpjpe'] / 10)  # cm
    ho = official_scores(res, 'ho3d')
    assert list(ho)[2:6] == ['xyz_procrustes_al_mean3d', 'xyz_procrustes_al_auc3d',
                             'xyz_scale_trans_al_mean3d', 'xyz_scale_trans_al_auc3d']
    assert ho['mesh_al_mean3d'] == pytest.approx(res['pa_mpvpe'] / 10)
