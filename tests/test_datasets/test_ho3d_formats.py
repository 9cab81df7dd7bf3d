"""HO3D's real-format quirks: frames whose hand fields are None (skipped, counted, one
warning; refused in the evaluation split, whose submission needs every line), missing meta
files (one pass, first named, counted), and broken annotations refused at load time with
the frame's meta pickle and the sample (generated data, stand-in hand model, not MANO)."""
import logging
import os
import os.path as osp
import pickle
import re
import shutil

import numpy as np
import pytest

import mmhandmim  # noqa: F401
from mmhandmim.datasets import HO3DMeshDataset
from mmhandmim.datasets import ho3d as ho3d_module
from mmhandmim.datasets.annotation_checks import AnnotationError
from mmhandmim.datasets.errors import DatasetLayoutError
from mmhandmim.hand_model import convert_keypoints
from mmhandmim.structures import GL_TO_CV
from mmhandmim.utils.errors import UserInputError

pytestmark = pytest.mark.usefixtures('mmpose_scope')


@pytest.fixture
def root(mesh_roots, tmp_path):
    dst = str(tmp_path / 'ho3d')
    shutil.copytree(mesh_roots['ho3d'], dst)
    return dst


def lines(root, split='train'):
    with open(osp.join(root, f'{split}.txt')) as f:
        return f.read().split()


def meta_path(root, line, split='train'):
    seq, frame = line.split('/')
    return osp.join(root, split, seq, 'meta', frame + '.pkl')


def edit_meta(root, line, split='train', **changes):
    """Rewrite one meta pickle as HO3D does (protocol 2); a value ``...`` deletes the key."""
    path = meta_path(root, line, split)
    with open(path, 'rb') as f:
        meta = pickle.load(f, encoding='latin1')
    for k, v in changes.items():
        if v is ...:
            del meta[k]
        else:
            meta[k] = v
    with open(path, 'wb') as f:
        pickle.dump(meta, f, protocol=2)
    return path


def load(root, tmp_path, split='train', cache='cache'):
    return HO3DMeshDataset(root, split=split, cache_dir=str(tmp_path / cache))


@pytest.fixture
def warnings_logged():
    from mmengine.logging import MMLogger
    records = []

    class Grab(logging.Handler):
        def emit(self, record):
            if record.levelno == logging.WARNING:
                records.append(record.getMessage())

    logger, handler = MMLogger.get_current_instance(), Grab()
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


# --- conventions --------------------------------------------------------------------------------
def test_train_labels_are_opencv_and_repose_with_flat_hand_mean(mesh_roots, tmp_path):
    """The loaded labels (OpenCV frame, FreiHAND order) are each frame's meta turned by
    ``rotate_posed_hand`` (the batched conversion changes nothing), and MANO with HO3D's
    flat_hand_mean=True re-poses them into the loaded joints; smplx's default does not."""
    import torch

    from mmhandmim.hand_model import MANOLayer
    from mmhandmim.structures import rotate_posed_hand
    root = mesh_roots['ho3d']
    ds = load(root, tmp_path)
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    for info in infos:
        with open(meta_path(root, info['seq_frame']), 'rb') as f:
            m = pickle.load(f)
        ref = rotate_posed_hand(GL_TO_CV, m['handJoints3D'][0], joints=m['handJoints3D'],
                                mano_pose=m['handPose'], mano_trans=m['handTrans'])
        np.testing.assert_allclose(info['keypoints_3d'][0], convert_keypoints(
            ref['joints'], 'ho3d', 'freihand'), atol=1e-12)
        np.testing.assert_allclose(info['mano_pose'][0], ref['mano_pose'], atol=1e-6)
        np.testing.assert_allclose(info['mano_trans'][0], ref['mano_trans'], atol=1e-6)
    p = {k: torch.from_numpy(np.concatenate([i[k] for i in infos])).double()
         for k in ('mano_pose', 'mano_betas', 'mano_trans')}
    joints = np.concatenate([i['keypoints_3d'] for i in infos])
    for flat, close in ((True, True), (False, False)):
        layer = MANOLayer('standin', flat_hand_mean=flat).double()
        with torch.no_grad():
            out = layer(p['mano_pose'], p['mano_betas'], p['mano_trans'])['keypoints'].numpy()
        err = np.linalg.norm(out - joints, axis=-1)
        assert (err.max() < 1e-5) if close else (err.mean() > 5e-3), (flat, err.mean())


# --- frames with None fields -----------------------------------------------------------------
def test_none_frames_are_skipped_counted_and_reported(root, tmp_path, warnings_logged,
                                                       monkeypatch):
    names = lines(root)
    first = edit_meta(root, names[1], handJoints3D=None, handPose=None)
    edit_meta(root, names[4], handPose=None)
    ds = load(root, tmp_path)
    kept = [0, 2, 3, 5]
    assert len(ds) == 4
    assert [ds.get_data_info(i)['seq_frame'] for i in range(4)] == [names[k] for k in kept]
    assert [ds.get_data_info(i)['sample_idx'] for i in range(4)] == [0, 1, 2, 3]
    # each sample carries its own frame's labels (not its neighbour's after the gap)
    for i, k in enumerate(kept):
        with open(meta_path(root, names[k]), 'rb') as f:
            meta = pickle.load(f)
        expected = convert_keypoints(meta['handJoints3D'] @ GL_TO_CV, 'ho3d', 'freihand')
        info = ds.get_data_info(i)
        np.testing.assert_allclose(info['keypoints_3d'][0], expected, atol=1e-6)
        assert info['has_mano'][0] == 1 and info['list_idx'] == k
    assert len(warnings_logged) == 1
    msg = warnings_logged[0]
    assert 'skipped 2 of the 6 frames' in msg and '\n' not in msg
    # the first absent field of each frame is named, with "is None" (the key exists)
    assert "1 with 'handJoints3D' is None" in msg and "1 with 'handPose' is None" in msg
    assert f'first: {first}' in msg

    # a second start reads the cache (no pickle opened) and reports the same skip
    def no_parse(path):
        raise AssertionError(f'{path} parsed again instead of read from the cache')

    monkeypatch.setattr(ho3d_module, 'load_meta_pickle', no_parse)
    again = load(root, tmp_path)
    assert [again.get_data_info(i)['seq_frame'] for i in range(4)] == [names[k] for k in kept]
    assert len(warnings_logged) == 2 and warnings_logged[1] == msg


def test_missing_key_is_reported_as_missing(root, tmp_path, warnings_logged):
    names = lines(root)
    edit_meta(root, names[2], handBeta=...)
    ds = load(root, tmp_path)
    assert len(ds) == 5
    assert "1 with 'handBeta' missing" in warnings_logged[0]
    assert 'is None' not in warnings_logged[0]


def test_no_annotated_frame_left_is_a_clear_error(root, tmp_path):
    names = lines(root)
    for line in names:
        edit_meta(root, line, handJoints3D=None)
    with pytest.raises(AnnotationError) as err:
        load(root, tmp_path)
    msg = str(err.value)
    assert isinstance(err.value, UserInputError) and '\n' not in msg
    assert 'none of its 6 frames has a hand annotation' in msg
    assert "6 with 'handJoints3D' is None" in msg and meta_path(root, names[0]) in msg
    assert 'has no' not in msg  # the old, contradictory wording


@pytest.mark.parametrize('value, wording', [(None, 'is None'), (..., 'missing')])
def test_evaluation_frames_are_never_dropped(root, tmp_path, value, wording):
    """The submission has one entry per evaluation.txt line, in order: a frame without its
    hand box is refused, naming the file and the sample, instead of silently dropped."""
    names = lines(root, 'evaluation')
    ds = load(root, tmp_path, 'evaluation', cache='c0')
    assert len(ds) == len(names)
    assert [ds.get_data_info(i)['seq_frame'] for i in range(len(ds))] == names
    path = edit_meta(root, names[2], 'evaluation', handBoundingBox=value)
    with pytest.raises(AnnotationError, match=re.escape(
            f"{path}: 'handBoundingBox' {wording} (evaluation sample 2, {names[2]}); an "
            'evaluation frame cannot be skipped')):
        load(root, tmp_path, 'evaluation')


# --- missing meta files ----------------------------------------------------------------------
def test_missing_meta_files_one_pass_first_named_and_counted(root, tmp_path, monkeypatch):
    names = lines(root)
    for line in names[2:4]:  # neither the first nor the last line
        os.remove(meta_path(root, line))
    opened, stat_ed = [], []
    real_load, real_isfile = ho3d_module.load_meta_pickle, os.path.isfile

    def counting_load(path):
        opened.append(path)
        return real_load(path)

    def counting_isfile(path):
        if str(path).endswith('.pkl'):
            stat_ed.append(path)
        return real_isfile(path)

    monkeypatch.setattr(ho3d_module, 'load_meta_pickle', counting_load)
    monkeypatch.setattr(os.path, 'isfile', counting_isfile)
    with pytest.raises(DatasetLayoutError) as err:
        load(root, tmp_path)
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert f'missing meta file {meta_path(root, names[2])} (2 of the 6 meta files' in msg
    assert 'Expected layout' in msg
    assert sorted(opened) == sorted(meta_path(root, n) for n in names)  # each once
    assert stat_ed == []  # no separate existence pass


# --- broken annotations ------------------------------------------------------------------------
def _zero_focal(m):
    K = m['camMat'].copy()
    K[1, 1] = 0.0
    return dict(camMat=K)


def _nan_trans(m):
    t = m['handTrans'].copy()
    t[1] = np.nan
    return dict(handTrans=t)


def _behind(m):  # an OpenCV-frame hand stored as if it were OpenGL
    return dict(handJoints3D=m['handJoints3D'] @ GL_TO_CV)


BROKEN = [
    pytest.param(lambda m: dict(handPose=m['handPose'][:45]),
                 r"'handPose' of sample 3 \({name}\) has shape \(45,\), expected \(48,\)",
                 id='handPose-45'),
    pytest.param(lambda m: dict(camMat=m['camMat'][:2, :2]),
                 r"'camMat' of sample 3 \({name}\) has shape \(2, 2\), expected \(3, 3\)",
                 id='camMat-2x2'),
    pytest.param(lambda m: dict(handBeta=['a'] * 10),
                 r"'handBeta' of sample 3 \({name}\) is not a rectangular list of numbers",
                 id='handBeta-strings'),
    pytest.param(_nan_trans, r"'handTrans' of sample 3 \({name}\) is not finite",
                 id='handTrans-nan'),
    pytest.param(_zero_focal, r'camera matrix K of sample 3 \({name}\) is .*fx, fy > 0',
                 id='zero-focal'),
    pytest.param(_behind, r"'handJoints3D' .* of sample 3 \({name}\) lie at or behind the "
                 'camera', id='joints-behind-camera'),
    pytest.param(lambda m: dict(handJoints3D=m['handJoints3D'] * 1000),
                 r"'handJoints3D' of sample 3 \({name}\) span .* millimetres", id='joints-mm'),
]


@pytest.mark.parametrize('change, message', BROKEN)
def test_broken_annotation_names_the_meta_pickle_and_the_sample(root, tmp_path, change,
                                                                message):
    names = lines(root)
    edit_meta(root, names[0], handPose=None)  # skipped: sample k is list line k + 1
    with open(meta_path(root, names[4]), 'rb') as f:
        meta = pickle.load(f)
    path = edit_meta(root, names[4], **change(meta))
    with pytest.raises(AnnotationError) as err:
        load(root, tmp_path)
    msg = str(err.value)
    assert isinstance(err.value, (UserInputError, ValueError)) and '\n' not in msg
    assert msg.startswith(f'{path}: '), msg
    assert re.search(message.format(name=re.escape(names[4])), msg), msg


def test_damaged_pickle_is_an_annotation_error(root, tmp_path):
    path = meta_path(root, lines(root)[3])
    with open(path, 'wb') as f:
        f.write(b'\x80\x02}q\x00')  # truncated
    with pytest.raises(AnnotationError, match=re.escape(path) + r': cannot read HO3D meta'):
        load(root, tmp_path)


def test_meta_pickle_that_runs_code_is_refused_before_it_runs(root, tmp_path):
    from mmhandmim.utils.safe_pickle import UnsafePickleError
    path = meta_path(root, lines(root)[2])
    marker = tmp_path / 'ran'
    with open(path, 'wb') as f:  # a pickle that calls os.system while it loads
        f.write(b"cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(UnsafePickleError) as info:
        load(root, tmp_path)
    assert not marker.exists(), 'the pickle ran code'
    assert path in str(info.value) and 'os.system' in str(info.value).replace('posix', 'os')


def test_broken_evaluation_ground_truth_is_refused(root, tmp_path):
    import json
    path = osp.join(root, 'evaluation_xyz.json')
    with open(path) as f:
        xyz = json.load(f)
    xyz[1][5][0] = float('nan')
    with open(path, 'w') as f:
        json.dump(xyz, f)
    with pytest.raises(AnnotationError, match=re.escape(path) + r': joints of sample 1 .*'
                       'not finite'):
        load(root, tmp_path, 'evaluation')


def test_a_replaced_meta_file_is_parsed_again(root, tmp_path):
    """The cache is keyed by the list and the meta folders: a meta file replaced as a download
    or an extraction does (a new file in the folder) is read again, with its checks."""
    assert len(load(root, tmp_path)) == len(lines(root))
    path = meta_path(root, lines(root)[2])
    with open(path, 'rb') as f:
        meta = pickle.load(f, encoding='latin1')
    meta['handJoints3D'] = meta['handJoints3D'] * 1000  # millimetres
    tmp = path + '.new'
    with open(tmp, 'wb') as f:
        pickle.dump(meta, f, protocol=2)
    os.replace(tmp, path)
    with pytest.raises(AnnotationError, match='millimetres'):
        load(root, tmp_path)
