"""Trivial baselines (mmhandmim.evaluation.baselines): the right hands, placed and converted
like the model's predictions, scored by the same function; in HandMeshMetric and the CLI."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from mmhandmim.evaluation import evaluate_hand_mesh, write_submission
from mmhandmim.evaluation.baselines import (baseline_hands, constant_hand,
                                            evaluate_baselines, format_comparison,
                                            load_mean_params, mean_pose_hand, place_hand)
from mmhandmim.hand_model import MANOLayer, convert_keypoints
from mmhandmim.standin import sample_hand_pose
from mmhandmim.structures import axis_angle_to_matrix, matrix_to_rot6d, rot6d_to_matrix
from mmhandmim.utils.errors import UserInputError

from .official_reference import align_w_scale

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, 'tools', 'analysis', 'eval_hand_mesh.py')
GL_TO_CV = np.diag([1.0, -1.0, -1.0])
STANDIN = dict(type='MANOLayer', model_path='standin', flat_hand_mean=False)


@pytest.fixture(scope='module')
def mano():
    return MANOLayer('standin', flat_hand_mean=False)


def random_rotations(rng, n):
    return axis_angle_to_matrix(torch.from_numpy(rng.normal(0, 1.5, (n, 3)))).numpy()


def posed_hands(mano, n, seed=0):
    """(N, 21, 3) FreiHAND-order keypoints and (N, 778, 3) vertices of random stand-in hands
    in front of an OpenCV camera."""
    rng = np.random.default_rng(seed)
    fingers = torch.from_numpy(sample_hand_pose(n, rng)) - mano.pose_mean[3:]
    pose = torch.cat([torch.from_numpy(rng.normal(0, 1.5, (n, 3))).float(), fingers], 1)
    betas = torch.from_numpy(rng.normal(0, 0.8, (n, 10))).float()
    transl = torch.from_numpy(rng.normal([0, 0, 0.6], 0.05, (n, 3))).float()
    with torch.no_grad():
        out = mano(pose, betas, transl)
    return out['keypoints'].double().numpy(), out['vertices'].double().numpy()


def similar_copies(hand, n, seed=0):
    """``hand`` under n random rotations, scales and translations (the GT a perfect
    constant predictor would face)."""
    rng = np.random.default_rng(seed)
    R = random_rotations(rng, n)
    s = rng.uniform(0.8, 1.25, (n, 1, 1))
    t = rng.normal([0, 0, 0.6], 0.1, (n, 1, 3))
    return tuple(s * (np.asarray(x)[None] @ R.transpose(0, 2, 1)) + t for x in hand)


def write_mean_params(path, seed=0, **overrides):
    rng = np.random.default_rng(seed)
    rot = random_rotations(rng, 16)
    arrays = dict(pose6d=matrix_to_rot6d(torch.from_numpy(rot)).numpy().astype(np.float32),
                  betas=rng.normal(0, 1, 10).astype(np.float32),
                  cam=np.array([10.0, 0.0, 0.0], np.float32))
    arrays.update(overrides)
    np.savez(path, **arrays)
    return str(path)


def test_constant_hand_is_the_zero_pose(mano):
    xyz, verts = constant_hand(mano)
    with torch.no_grad():
        ref = mano(torch.zeros(1, 48))  # hands_mean added by the layer (flat_hand_mean=False)
    assert xyz.shape == (21, 3) and verts.shape == (778, 3)
    np.testing.assert_allclose(xyz, ref['keypoints'][0].double().numpy(), atol=1e-7)
    np.testing.assert_allclose(verts, ref['vertices'][0].double().numpy(), atol=1e-7)
    # the fingers are curled by hands_mean: not the flat hand of flat_hand_mean=True
    flat = constant_hand(MANOLayer('standin', flat_hand_mean=True))
    assert np.abs(flat[0] - xyz).max() > 0.005


def test_constant_hand_against_itself_under_similarity(mano):
    hand = constant_hand(mano)
    gt_xyz, gt_verts = similar_copies(hand, 5)
    scores = evaluate_baselines({'constant': hand}, gt_xyz, gt_verts)['constant']
    # ~1e-6 mm left by the official 1e-8 terms in the Procrustes scales
    assert scores['pa_mpjpe'] < 1e-4 and scores['pa_mpvpe'] < 1e-4
    assert scores['pa_f5'] == 1.0
    # rotated and scaled: the root placement cannot make the unaligned errors vanish
    assert scores['mpjpe'] > 5 and scores['mpvpe'] > 5


def test_constant_hand_pa_mpjpe_by_hand(mano):
    gt_xyz, gt_verts = posed_hands(mano, 3, seed=1)
    hand = constant_hand(mano)
    scores = evaluate_baselines({'constant': hand}, gt_xyz, gt_verts)['constant']
    per_sample = [np.linalg.norm(align_w_scale(g, hand[0].copy()) - g, axis=1).mean()
                  for g in gt_xyz]
    assert scores['pa_mpjpe'] == pytest.approx(np.mean(per_sample) * 1000, rel=1e-9)
    per_sample_v = [np.linalg.norm(align_w_scale(g, hand[1].copy()) - g, axis=1).mean()
                    for g in gt_verts]
    assert scores['pa_mpvpe'] == pytest.approx(np.mean(per_sample_v) * 1000, rel=1e-9)
    # unaligned: the constant hand translated onto each GT root
    pred = hand[0] - hand[0][0] + gt_xyz[:, :1]
    assert scores['mpjpe'] == pytest.approx(
        np.linalg.norm(pred - gt_xyz, axis=-1).mean() * 1000, rel=1e-9)
    assert 1 < scores['pa_mpjpe'] < scores['mpjpe']


def test_placement_puts_the_root_on_the_gt_root(mano):
    gt_xyz, _ = posed_hands(mano, 4, seed=2)
    hand = constant_hand(mano)
    xyz, verts = place_hand(hand, gt_xyz)
    np.testing.assert_allclose(xyz[:, 0], gt_xyz[:, 0], atol=1e-12)
    shift = gt_xyz[:, :1] - hand[0][0]
    np.testing.assert_allclose(verts, hand[1][None] + shift, atol=1e-12)


def test_mean_pose_is_the_decoded_mean_params(mano, tmp_path):
    path = write_mean_params(tmp_path / 'mean.npz')
    calls = []
    handle = mano.register_forward_hook(lambda *a: calls.append(1))
    try:
        hands = baseline_hands(mano, path)
    finally:
        handle.remove()
    assert len(calls) == 2  # one decode per baseline, not per sample
    with np.load(path) as f:
        rot = rot6d_to_matrix(torch.from_numpy(f['pose6d']))[None]
        with torch.no_grad():
            ref = mano(rot, torch.from_numpy(f['betas'])[None])
    np.testing.assert_allclose(hands['mean_pose'][0], ref['keypoints'][0].numpy(), atol=1e-7)
    np.testing.assert_allclose(hands['mean_pose'][1], ref['vertices'][0].numpy(), atol=1e-7)
    # a GT made of that hand: the mean pose is perfect after Procrustes, the constant is not
    gt_xyz, gt_verts = similar_copies(hands['mean_pose'], 4, seed=3)
    scores = evaluate_baselines(hands, gt_xyz, gt_verts)
    assert scores['mean_pose']['pa_mpjpe'] < 1e-4
    assert scores['constant']['pa_mpjpe'] > 1


def test_ho3d_order_and_frame(mano):
    """HO3D's GT is the same hands in HO3D order, OpenGL frame: every error is unchanged
    only if the baseline is converted like the model's predictions."""
    gt_xyz, gt_verts = posed_hands(mano, 4, seed=4)
    hands = {'constant': constant_hand(mano)}
    fh = evaluate_baselines(hands, gt_xyz, gt_verts, 'freihand')['constant']
    ho_xyz = convert_keypoints(gt_xyz @ GL_TO_CV.T, 'freihand', 'ho3d')
    ho = evaluate_baselines(hands, ho_xyz, gt_verts @ GL_TO_CV.T, 'ho3d')['constant']
    for k in ('pa_mpjpe', 'pa_mpvpe', 'mpjpe', 'mpvpe'):
        assert ho[k] == pytest.approx(fh[k], rel=1e-9), k
    xyz, _ = place_hand(hands['constant'], ho_xyz, 'ho3d')
    np.testing.assert_allclose(xyz[:, 0], ho_xyz[:, 0], atol=1e-12)
    np.testing.assert_allclose(xyz[0] - xyz[0, :1], convert_keypoints(
        hands['constant'][0] @ GL_TO_CV.T, 'freihand', 'ho3d') - hands['constant'][0][0] @
        GL_TO_CV.T, atol=1e-12)


@pytest.mark.parametrize('case', ['missing', 'no_key', 'shape', 'nan', 'not_npz'])
def test_bad_mean_params(tmp_path, case):
    path = tmp_path / 'mean.npz'
    if case == 'no_key':
        np.savez(path, pose6d=np.zeros((16, 6)))
    elif case == 'shape':
        write_mean_params(path, pose6d=np.zeros((16, 3)))
    elif case == 'nan':
        write_mean_params(path, betas=np.full(10, np.nan))
    elif case == 'not_npz':
        path.write_text('not an archive')
    with pytest.raises(UserInputError) as info:  # ValueError, FileNotFoundError if missing
        load_mean_params(path)
    msg = str(info.value)
    assert str(path) in msg and '\n' not in msg
    assert {'missing': 'not found', 'no_key': "'betas'", 'shape': 'expected pose6d (16, 6)',
            'nan': 'non-finite', 'not_npz': 'npz'}[case] in msg


def test_format_comparison(mano):
    gt_xyz, gt_verts = posed_hands(mano, 3, seed=5)
    hands = {'constant': constant_hand(mano), 'mean_pose': constant_hand(mano)}
    base = evaluate_baselines(hands, gt_xyz, gt_verts)
    model = dict(base['constant'], pa_mpjpe=base['constant']['pa_mpjpe'] / 2)
    lines = format_comparison(model, base).splitlines()
    assert lines[0].split()[:4] == ['PA-MPJPE', 'PA-MPVPE', 'MPJPE', 'MPVPE']
    assert lines[1].startswith('model') and lines[1].split()[-1] == '0.500'
    assert lines[2].startswith('constant hand') and lines[2].split()[-1] == '1.000'
    assert lines[3].startswith('training-set mean pose')
    assert 'root joint placed at the GT root joint' in lines[-1]


# --- HandMeshMetric -----------------------------------------------------------------------
def metric_samples(mano, n=5, seed=6):
    gt_xyz, gt_verts = posed_hands(mano, n, seed)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        shift = rng.normal(0, 0.01, (1, 3))
        out.append(dict(
            sample_idx=i, warp_mat=np.array([[1., 0, 0], [0, 1, 0]]),
            pred_instances=dict(
                keypoints_3d=(gt_xyz[i] + shift + rng.normal(0, 0.004, (21, 3)))[None],
                vertices=(gt_verts[i] + shift + rng.normal(0, 0.004, (778, 3)))[None]),
            gt_instances=dict(keypoints_3d=gt_xyz[i][None], vertices=gt_verts[i][None],
                              has_3d=np.ones(1))))
    return out, gt_xyz, gt_verts


def run_metric(samples, **kwargs):
    from mmhandmim.evaluation.metrics import HandMeshMetric
    metric = HandMeshMetric(**kwargs)
    metric.dataset_meta = {}
    metric.process([], samples)
    return metric.evaluate(len(samples))


@pytest.mark.parametrize('protocol', ['freihand', 'ho3d'])
def test_metric_reports_baselines(mano, tmp_path, protocol):
    samples, gt_xyz, gt_verts = metric_samples(mano)
    npz = write_mean_params(tmp_path / 'mean.npz')
    plain = run_metric(samples, protocol=protocol)
    # keypoint_order is forced to 'freihand' whatever the config says
    with_base = run_metric(samples, protocol=protocol, baselines=dict(
        mano=dict(STANDIN, keypoint_order='ho3d'), mean_params=npz))
    assert {k: with_base[k] for k in plain} == plain
    extra = sorted(set(with_base) - set(plain))
    assert extra == sorted(f'mesh/baseline/{b}_{k[5:]}' for b in ('constant', 'mean_pose')
                           for k in plain)
    # the same numbers as the module's function on the same GT, in the benchmark's space
    order, frame = ('ho3d', GL_TO_CV) if protocol == 'ho3d' else ('freihand', np.eye(3))
    ref = evaluate_baselines(baseline_hands(mano, npz),
                             convert_keypoints(gt_xyz @ frame.T, 'freihand', order),
                             gt_verts @ frame.T, protocol)
    for b in ('constant', 'mean_pose'):
        assert with_base[f'mesh/baseline/{b}_pa_mpjpe'] == pytest.approx(
            ref[b]['pa_mpjpe'], rel=1e-6)
    assert with_base['mesh/pa_mpjpe'] < with_base['mesh/baseline/constant_pa_mpjpe']


@pytest.mark.parametrize('baselines, needle', [
    (dict(mano=STANDIN, means='x.npz'), "unknown keys ['means']"),
    (dict(mean_params='x.npz'), "missing key 'mano'"),
    (dict(mano=dict(STANDIN, colour=1)), 'colour'),
    (dict(mano=STANDIN, mean_params='/nonexistent/mean.npz'), '/nonexistent/mean.npz'),
])
def test_metric_bad_baselines(baselines, needle):
    from mmhandmim.evaluation.metrics import HandMeshMetric
    with pytest.raises(UserInputError) as info:
        HandMeshMetric(baselines=baselines)
    assert needle in str(info.value) and '\n' not in str(info.value)


# --- the standalone evaluator -------------------------------------------------------------
@pytest.fixture(scope='module')
def eval_set(mano, tmp_path_factory):
    folder = tmp_path_factory.mktemp('baseline_cli')
    gt_xyz, gt_verts = posed_hands(mano, 4, seed=7)
    gt_dir = folder / 'gt'
    gt_dir.mkdir()
    (gt_dir / 'evaluation_xyz.json').write_text(json.dumps(gt_xyz.tolist()))
    (gt_dir / 'evaluation_verts.json').write_text(json.dumps(gt_verts.tolist()))
    rng = np.random.default_rng(0)
    pred, _ = write_submission(gt_xyz + rng.normal(0, 0.005, gt_xyz.shape),
                               gt_verts + rng.normal(0, 0.005, gt_verts.shape), folder / 'sub')
    npz = write_mean_params(folder / 'mean.npz')
    return dict(pred=str(pred), gt_dir=str(gt_dir), npz=npz, gt=(gt_xyz, gt_verts),
                folder=folder)


def test_cli_writes_baselines_json(mano, eval_set):
    out = eval_set['folder'] / 'out'
    proc = subprocess.run(
        [sys.executable, TOOL, '--pred', eval_set['pred'], '--gt-dir', eval_set['gt_dir'],
         '--protocol', 'freihand', '--out-dir', str(out), '--baseline-mano', 'standin',
         '--mean-params', eval_set['npz']],
        capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'constant hand (zero pose, root at GT root)' in proc.stdout
    assert 'training-set mean pose (root at GT root)' in proc.stdout
    record = json.loads((out / 'baselines.json').read_text())
    assert record['standin'] and record['flat_hand_mean'] is False
    ref = evaluate_baselines(baseline_hands(mano, eval_set['npz']), *eval_set['gt'])
    for b in ('constant', 'mean_pose'):
        assert record['scores'][b]['pa_mpjpe'] == pytest.approx(ref[b]['pa_mpjpe'], rel=1e-9)
    model = json.loads((out / 'scores.json').read_text())
    assert model == evaluate_hand_mesh(*json.loads(open(eval_set['pred']).read()),
                                       *eval_set['gt'])
    assert record['model_over_constant_pa_mpjpe'] == pytest.approx(
        model['pa_mpjpe'] / ref['constant']['pa_mpjpe'])


def _load_tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location('eval_hand_mesh', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('case', ['missing_npz', 'bad_npz', 'no_mano', 'bad_mano'])
def test_cli_bad_baseline_input(eval_set, tmp_path, capsys, case):
    args = ['--pred', eval_set['pred'], '--gt-dir', eval_set['gt_dir'], '--protocol',
            'freihand', '--out-dir', str(tmp_path / 'out')]
    bad = str(tmp_path / 'mean.npz')
    if case == 'bad_npz':
        write_mean_params(bad, betas=np.zeros(7))
    extra = {'missing_npz': ['--baseline-mano', 'standin', '--mean-params', bad],
             'bad_npz': ['--baseline-mano', 'standin', '--mean-params', bad],
             'no_mano': ['--mean-params', eval_set['npz']],
             'bad_mano': ['--baseline-mano', str(tmp_path / 'no_such_mano')]}[case]
    assert _load_tool().main(args + extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and '\n' not in err
    assert {'missing_npz': bad, 'bad_npz': 'betas (10,)', 'no_mano': '--baseline-mano',
            'bad_mano': 'no_such_mano'}[case] in err
    assert not (tmp_path / 'out').exists()
