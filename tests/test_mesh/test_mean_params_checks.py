"""The head's mean-parameter file is checked when the head is built: exact keys and shapes (no
silent reshape of a transposed pose), real rotations, a positive camera scale; one line that
names the file and the key. Stand-in hand model, no downloads."""
import numpy as np
import pytest
import torch
from mmengine.registry import DefaultScope

import mmhandmim  # noqa: F401
from mmhandmim.hand_model.mean_params import (MeanParamsError, MeanParamsNotFoundError,
                                               read_mean_params)
from mmhandmim.structures import matrix_to_rot6d, rot6d_to_matrix
from mmhandmim.utils.errors import UserInputError

from tests.test_evaluation.test_prediction_sanity import warnings_log  # noqa: F401

from .conftest import tiny_model

LAYOUT = r"expected pose6d \(16, 6\), betas \(10,\), cam \(3,\)"


def rotations(seed, n=16):
    q = torch.as_tensor(np.random.default_rng(seed).normal(size=(n, 4)))
    q = q / q.norm(dim=1, keepdim=True)
    w, x, y, z = q.unbind(1)
    return torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], 1).view(n, 3, 3)


def good_arrays(seed=0):
    return dict(pose6d=matrix_to_rot6d(rotations(seed)).numpy().astype(np.float32),
                betas=np.linspace(-1, 1, 10).astype(np.float32),
                cam=np.array([9.5, 0.02, -0.01], np.float32))


def write(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


def test_valid_file_loads_exactly(tmp_path):
    arrays = good_arrays()
    got = read_mean_params(write(tmp_path / 'm.npz', **arrays, num_samples=np.int64(5)))
    for key, value in arrays.items():
        assert got[key].dtype == np.float64
        np.testing.assert_array_equal(got[key], value)
    # the rows are rotations: decoding gives back the matrices
    torch.testing.assert_close(rot6d_to_matrix(torch.from_numpy(got['pose6d'])), rotations(0),
                               atol=1e-6, rtol=0)


def _transposed(a):
    a['pose6d'] = np.ascontiguousarray(a['pose6d'].T)  # (6, 16): used to be reshaped


def _interleaved(a):
    # HMR/SPIN's 6D layout (rows of the 3x2 block) in the right shape: not our columns
    rot = rotations(0).numpy()
    a['pose6d'] = rot[:, :, :2].reshape(16, 6).astype(np.float32)


BAD = [
    ('transposed', _transposed, r"key 'pose6d' is float32 \(6, 16\); " + LAYOUT),
    ('flat', lambda a: a.update(pose6d=a['pose6d'].reshape(96)), r"'pose6d' .*\(96,\)"),
    ('betas-2d', lambda a: a.update(betas=a['betas'][None]), r"key 'betas' is float32 \(1, 10\)"),
    ('cam-4', lambda a: a.update(cam=np.zeros(4)), r"key 'cam' is float64 \(4,\)"),
    ('missing-cam', lambda a: a.pop('cam'), r"no key 'cam' \(keys: \['betas', 'pose6d'\]\); "
     + LAYOUT),
    ('nan', lambda a: a['betas'].__setitem__(3, np.nan), r"key 'betas' has non-finite"),
    ('interleaved', _interleaved, r"key 'pose6d' row \d+ is not the 6D of a rotation"),
    ('zero-scale', lambda a: a['cam'].__setitem__(0, 0.0), r"key 'cam' scale s = 0 must be > 0"),
    ('strings', lambda a: a.update(betas=np.array(['a'] * 10)), r"key 'betas' is <U1 \(10,\)"),
]


@pytest.mark.parametrize('name, spoil, message', BAD, ids=[b[0] for b in BAD])
def test_bad_layouts_are_refused(tmp_path, name, spoil, message):
    arrays = good_arrays()
    spoil(arrays)
    path = write(tmp_path / f'{name}.npz', **arrays)
    with pytest.raises(MeanParamsError, match=message) as exc:
        read_mean_params(path)
    text = str(exc.value)
    assert text.startswith(path) and '\n' not in text
    assert isinstance(exc.value, UserInputError) and isinstance(exc.value, ValueError)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(MeanParamsNotFoundError, match='mean_params file not found'):
        read_mean_params(tmp_path / 'none.npz')
    assert issubclass(MeanParamsNotFoundError, FileNotFoundError)
    bad = tmp_path / 'text.npz'
    bad.write_text('not an archive')
    with pytest.raises(MeanParamsError, match=r'cannot read it as an \.npz'):
        read_mean_params(bad)


def test_num_betas_of_the_hand_model(tmp_path):
    path = write(tmp_path / 'm.npz', **good_arrays())
    with pytest.raises(MeanParamsError, match=r"'betas' is float32 \(10,\); expected pose6d "
                       r"\(16, 6\), betas \(12,\)"):
        read_mean_params(path, num_betas=12)


def test_metadata_of_another_hand_model_warns(tmp_path, warnings_log):
    path = write(tmp_path / 'm.npz', **good_arrays(), flat_hand_mean=np.bool_(True),
                 hand_model=np.str_('MANO: data/mano/MANO_RIGHT.pkl'))
    read_mean_params(path, flat_hand_mean=True, is_standin=False)
    assert warnings_log == []
    read_mean_params(path, flat_hand_mean=False, is_standin=True)
    assert len(warnings_log) == 1 and '\n' not in warnings_log[0]
    assert "flat_hand_mean=True (the head's: False)" in warnings_log[0]
    assert "MANO (the head's: the stand-in)" in warnings_log[0]


def test_head_refuses_at_build_and_starts_from_a_good_file(tmp_path):
    from mmpose.registry import MODELS
    arrays = good_arrays(3)
    bad = dict(arrays, pose6d=np.ascontiguousarray(arrays['pose6d'].T))
    with DefaultScope.overwrite_default_scope('mmpose'):
        with pytest.raises(MeanParamsError, match=r"bad\.npz: key 'pose6d' is float32 "
                           r'\(6, 16\)'):
            MODELS.build(tiny_model(mean_params=write(tmp_path / 'bad.npz', **bad)))
        head = MODELS.build(tiny_model(mean_params=write(tmp_path / 'good.npz',
                                                         **arrays))).head
    np.testing.assert_array_equal(head.init_pose6d.numpy(), arrays['pose6d'])
    np.testing.assert_array_equal(head.init_cam.numpy(), arrays['cam'])
