"""The standalone evaluator refuses what would be scored meaninglessly: points in mm/cm, the
other benchmark's joint order or camera frame, the other benchmark's ground-truth folder;
ambiguous evidence is one warning line. FreiHAND ground truth needs only the xyz/verts files.

Generated FreiHAND/HO3D layouts (stand-in hand model, not MANO); the thresholds themselves
come from hand sizes (0.1-0.3 m), checked here on hands scaled to both ends of that range.
"""
import importlib.util
import json
import logging
import os
import shutil

import numpy as np
import pytest

from mmhandmim.evaluation import write_submission
from mmhandmim.evaluation.prediction_checks import (JointOrderError, ProtocolMismatchError,
                                                    UnitError, check_joint_order, check_units,
                                                    hand_extent, joint_order_fit)
from mmhandmim.hand_model import convert_keypoints
from mmhandmim.structures.frames import GL_TO_CV
from mmhandmim.utils.errors import UserInputError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(ROOT, 'tools', 'analysis', 'eval_hand_mesh.py')
N = 12


def _load_json(path):
    with open(path) as f:
        return np.asarray(json.load(f), np.float64)


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location('eval_hand_mesh_sanity', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def freihand_root(tmp_path_factory):
    from mmhandmim.standin.generation import generate_freihand
    root = str(tmp_path_factory.mktemp('fh'))
    generate_freihand(root, num_train=N, num_eval=N, versions=1, img_size=16, seed=4,
                      progress=False)
    return root


@pytest.fixture(scope='module')
def ho3d_root(tmp_path_factory):
    from mmhandmim.standin.generation import generate_ho3d
    root = str(tmp_path_factory.mktemp('ho3d'))
    generate_ho3d(root, num_train=2, num_eval=N, num_seqs=2, seed=5, progress=False)
    return root


def other_hands(root):
    """Another person's hands in other poses (the training split): a poor but real
    prediction, in the evaluation split's order and frame."""
    name = 'training' if os.path.isfile(os.path.join(root, 'training_xyz.json')) else None
    if name is None:  # HO3D: the evaluation hands shifted by one sample
        xyz, verts = (_load_json(os.path.join(root, f'evaluation_{k}.json'))
                      for k in ('xyz', 'verts'))
        return np.roll(xyz, 1, 0), np.roll(verts, 1, 0)
    return tuple(_load_json(os.path.join(root, f'training_{k}.json'))[:N]
                 for k in ('xyz', 'verts'))


@pytest.fixture
def warnings_log():
    from mmengine.logging import MMLogger
    records = []

    class Catch(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    logger = MMLogger.get_current_instance()
    handler = Catch(level=logging.WARNING)
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def evaluate(tool, capsys, tmp_path, xyz, verts, gt_dir, protocol):
    """Run the evaluator in-process -> (exit code, stderr, out dir)."""
    pred, _ = write_submission(xyz, verts, tmp_path / 'sub', overwrite=True)
    out = tmp_path / 'out'
    shutil.rmtree(out, ignore_errors=True)  # a previous run's report
    capsys.readouterr()
    code = tool.main(['--pred', str(pred), '--gt-dir', str(gt_dir), '--protocol', protocol,
                      '--out-dir', str(out)])
    return code, capsys.readouterr().err, out


def refused(code, err, out):
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith('error: ') and 'Traceback' not in err
    assert not (out / 'scores.json').exists()
    return lines[0]


# --- units --------------------------------------------------------------------------------
def test_extent_is_the_bounding_box_diagonal():
    pts = np.zeros((3, 21, 3))
    pts[0, 1] = [0.3, 0.4, 0.0]  # diagonal 0.5
    pts[1, 1], pts[1, 2] = [0.1, 0.0, 0.0], [0.0, 0.0, -0.2]  # ptp (0.1, 0, 0.2)
    pts[2, 1] = [0.0, 0.0, 0.1]  # diagonal 0.1
    assert hand_extent(pts) == pytest.approx(np.hypot(0.1, 0.2))  # the median


@pytest.mark.parametrize('extent_m', [0.1, 0.3])
def test_unit_thresholds_hold_for_real_hand_sizes(freihand_root, warnings_log, extent_m):
    xyz = _load_json(os.path.join(freihand_root, 'evaluation_xyz.json'))
    xyz = xyz * (extent_m / hand_extent(xyz))
    assert check_units(xyz, 'xyz', 'p') == pytest.approx(extent_m)  # metres: silent
    assert warnings_log == []
    with pytest.raises(UnitError, match=r'p: xyz look like millimetres, not metres: median '
                       rf'hand extent {extent_m * 1000:g} .*divide the coordinates by 1000'):
        check_units(xyz * 1000, 'xyz', 'p')
    with pytest.raises(UnitError, match=r'centimetres.*divide the coordinates by 100$'):
        check_units(xyz * 100, 'xyz', 'p')
    assert issubclass(UnitError, UserInputError) and issubclass(UnitError, ValueError)


def test_implausible_but_ambiguous_size_warns(warnings_log):
    pts = np.zeros((2, 21, 3))
    pts[:, 1] = [1.5, 0.0, 0.0]  # 1.5 "m": neither a hand in metres nor in cm
    assert check_units(pts, 'xyz', 'p') == pytest.approx(1.5)
    assert len(warnings_log) == 1 and 'may not be in metres' in warnings_log[0]


def test_millimetre_predictions_are_refused(tool, capsys, tmp_path, freihand_root):
    xyz, verts = other_hands(freihand_root)
    line = refused(*evaluate(tool, capsys, tmp_path, xyz * 1000, verts * 1000, freihand_root,
                             'freihand'))
    assert 'xyz_list look like millimetres' in line and 'divide the coordinates by 1000' in line
    # only the vertices in mm: named as such
    line = refused(*evaluate(tool, capsys, tmp_path, xyz, verts * 1000, freihand_root,
                             'freihand'))
    assert 'verts_list look like millimetres' in line


# --- joint order --------------------------------------------------------------------------
def test_bone_residual_is_zero_for_the_matching_order(freihand_root):
    gt = _load_json(os.path.join(freihand_root, 'evaluation_xyz.json'))
    as_given, as_other = joint_order_fit(gt, gt, 'freihand')
    assert (as_given == 0).all() and (as_other > 0.2).all()
    as_given, as_other = joint_order_fit(convert_keypoints(gt, 'freihand', 'ho3d'), gt,
                                         'freihand')
    assert (as_other == 0).all() and (as_given > 0.2).all()
    # units and a global scale do not matter (lengths over their sum)
    a2, _ = joint_order_fit(gt * 1000, gt, 'freihand')
    np.testing.assert_allclose(a2, 0, atol=1e-12)


def test_random_points_are_not_blamed_on_the_order(freihand_root, warnings_log):
    gt = _load_json(os.path.join(freihand_root, 'evaluation_xyz.json'))
    noise = np.random.default_rng(0).normal(0, 0.04, gt.shape) + gt[:, :1]
    check_joint_order(noise, gt, 'freihand', 'p')  # fits both orders alike: silent
    assert warnings_log == []


def test_ho3d_order_under_freihand_is_refused(tool, capsys, tmp_path, freihand_root):
    xyz, verts = other_hands(freihand_root)
    code, err, out = evaluate(tool, capsys, tmp_path, xyz, verts, freihand_root, 'freihand')
    assert code == 0, err  # the right order, poor prediction: scored
    line = refused(*evaluate(tool, capsys, tmp_path, convert_keypoints(xyz, 'freihand', 'ho3d'),
                             verts, freihand_root, 'freihand'))
    assert "bone lengths fit HO3D's joint order far better than FreiHAND's" in line
    assert "convert_keypoints(xyz, 'ho3d', 'freihand')" in line and '--protocol ho3d' in line
    assert isinstance(JointOrderError('x'), UserInputError)


def test_partly_reordered_predictions_warn(tool, capsys, tmp_path, freihand_root,
                                           warnings_log):
    xyz, verts = other_hands(freihand_root)
    xyz = xyz.copy()
    k = 8  # 8 of 12 in HO3D order: the median fits it, but not >= 90 % of the samples
    xyz[:k] = convert_keypoints(xyz[:k], 'freihand', 'ho3d')
    code, err, out = evaluate(tool, capsys, tmp_path, xyz, verts, freihand_root, 'freihand')
    assert code == 0, err
    assert (out / 'scores.json').exists() and len(warnings_log) == 1
    assert "fit HO3D's joint order better" in warnings_log[0] and '67%' in warnings_log[0]


# --- the benchmark of the ground truth ------------------------------------------------------
def test_ho3d_folder_under_freihand_is_refused(tool, capsys, tmp_path, ho3d_root):
    xyz, verts = other_hands(ho3d_root)
    code, err, out = evaluate(tool, capsys, tmp_path, xyz, verts, ho3d_root, 'ho3d')
    assert code == 0, err
    line = refused(*evaluate(tool, capsys, tmp_path, xyz, verts, ho3d_root, 'freihand'))
    assert f'{ho3d_root} is HO3D ground truth (it has evaluation.txt, train.txt' in line
    assert 'the OpenGL camera frame' in line and line.endswith('pass --protocol ho3d')


def test_freihand_folder_under_ho3d_is_refused(tool, capsys, tmp_path, freihand_root):
    xyz, verts = other_hands(freihand_root)
    line = refused(*evaluate(tool, capsys, tmp_path, xyz, verts, freihand_root, 'ho3d'))
    assert 'is FreiHAND ground truth (it has evaluation_K.json' in line
    assert line.endswith('pass --protocol freihand')


def test_folder_and_frame_disagreeing_is_a_warning(tool, capsys, tmp_path, freihand_root,
                                                   warnings_log):
    gt = tmp_path / 'gt'
    gt.mkdir()
    for name in ('evaluation.txt', 'train.txt'):  # HO3D's files ...
        (gt / name).write_text('SE10/0000\n')
    xyz, verts = other_hands(freihand_root)  # ... but FreiHAND's OpenCV-frame hands
    for kind in ('xyz', 'verts'):
        shutil.copy(os.path.join(freihand_root, f'evaluation_{kind}.json'), gt)
    code, err, out = evaluate(tool, capsys, tmp_path, xyz, verts, gt, 'freihand')
    assert code == 0, err
    assert len(warnings_log) == 1 and 'looks like HO3D ground truth' in warnings_log[0]
    assert 'but also like FreiHAND' in warnings_log[0]


def test_opencv_predictions_for_the_opengl_benchmark_are_refused(tool, capsys, tmp_path,
                                                                  ho3d_root):
    xyz, verts = other_hands(ho3d_root)
    line = refused(*evaluate(tool, capsys, tmp_path, xyz @ GL_TO_CV.T, verts @ GL_TO_CV.T,
                             ho3d_root, 'ho3d'))
    assert 'predictions are in the OpenCV camera frame' in line and 'negate their y and z' in line
    assert issubclass(ProtocolMismatchError, ValueError)


# --- FreiHAND ground truth of two files -----------------------------------------------------
def test_freihand_gt_without_mano_file(tool, capsys, tmp_path, freihand_root):
    gt = tmp_path / 'gt'
    gt.mkdir()
    for kind in ('xyz', 'verts'):  # the official evaluation's two files, nothing else
        shutil.copy(os.path.join(freihand_root, f'evaluation_{kind}.json'), gt)
    xyz, verts = other_hands(freihand_root)
    code, err, out = evaluate(tool, capsys, tmp_path, xyz, verts, gt, 'freihand')
    assert code == 0, err
    scores = json.loads((out / 'scores.json').read_text())
    gt_xyz, gt_verts = (_load_json(gt / f'evaluation_{k}.json') for k in ('xyz', 'verts'))
    # by hand: unaligned mean joint / vertex distances, in mm
    assert scores['mpjpe'] == pytest.approx(
        np.linalg.norm(xyz - gt_xyz, axis=-1).mean() * 1000, rel=1e-9)
    assert scores['mpvpe'] == pytest.approx(
        np.linalg.norm(verts - gt_verts, axis=-1).mean() * 1000, rel=1e-9)
