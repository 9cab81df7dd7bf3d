import json
import zipfile

import numpy as np
import pytest

from mmhandmim.evaluation import SubmissionError, load_gt, load_prediction, write_submission
from mmhandmim.utils.json_arrays import parse_array_list


def test_write_and_load_round_trip(tmp_path, hands):
    xyz, verts = hands[0], hands[1]
    json_path, zip_path = write_submission(xyz, verts, tmp_path)
    with zipfile.ZipFile(zip_path) as zf:
        assert zf.namelist() == ['pred.json']
    with open(json_path) as f:
        data = json.load(f)
    assert len(data) == 2 and len(data[0]) == 6 and len(data[1][0]) == 40
    for path in (json_path, zip_path):
        got_xyz, got_verts = load_prediction(path)
        np.testing.assert_array_equal(got_xyz, xyz)
        np.testing.assert_array_equal(got_verts, verts)


def test_write_refuses_to_overwrite(tmp_path, hands):
    write_submission(hands[0], hands[1], tmp_path)
    with pytest.raises(FileExistsError, match='overwrite'):
        write_submission(hands[0], hands[1], tmp_path)
    write_submission(hands[0] * 2, hands[1], tmp_path, overwrite=True)
    np.testing.assert_array_equal(load_prediction(tmp_path / 'pred.json')[0], hands[0] * 2)


def test_fast_parser_is_bit_identical_to_json():
    rng = np.random.default_rng(0)
    values = rng.normal(0, 1, (4, 5, 3)) * 10.0 ** rng.integers(-12, 12, (4, 5, 3))
    values[0, 0] = [0.0, -0.0, 1.0]
    for text in (json.dumps(values.tolist()), json.dumps(values.tolist(), indent=2),
                 '[[[1, -2E+2, 3e-7]], [[0.5, 1.25e1, -0.0]]]'):
        fast = parse_array_list(text.encode(), top_level_list=False)
        assert fast is not None
        ref = np.array(json.loads(text), dtype=np.float64)
        np.testing.assert_array_equal(fast, ref)
        assert (np.signbit(fast) == np.signbit(ref)).all()


@pytest.mark.parametrize('text', [
    '[[[1, 2, 3 4]]]',  # numbers separated by whitespace only
    '[[[1, 2, NaN]]]',  # not plain numbers: json decides
    '[[[1, 2, 3]], [[1, 2]]]',  # ragged
    '[[[1,, 3]]]',
    '[[[1, 2, null]]]',  # no null spelling may become a number
    '[[[1, 2, 1.2.3]]]',  # not a number: the CSV parser refuses
])
def test_fast_parser_declines_unusual_text(text):
    assert parse_array_list(text.encode(), top_level_list=False) is None


def _write(path, text):
    path.write_text(text)
    return path


def test_truncated_json_names_file_and_position(tmp_path, hands):
    json_path, _ = write_submission(hands[0], hands[1], tmp_path)
    text = open(json_path).read()
    bad = _write(tmp_path / 'cut.json', text[:len(text) // 2])
    with pytest.raises(SubmissionError, match=r'cut\.json: invalid JSON at line 1 column '
                       r'\d+ .*truncated'):
        load_prediction(bad)


@pytest.mark.parametrize('data, message', [
    ([[[[0, 0, 0]]]], 'expected a 2-element list'),
    ({'xyz': []}, 'expected a 2-element list'),
    ([[[[0, 0, 0]] * 21] * 2, [[[0, 0, 0]] * 5]], 'xyz_list has 2 entries but verts_list has 1'),
    ([[[[0, 0, 0]] * 21, [[0, 0, 0]] * 20], [[[0, 0, 0]] * 5] * 2],
     r'xyz_list entry 1 has shape \(20, 3\), expected \(21, 3\) like entry 0'),
    ([[[[0, 0, 0]] * 21], [[[0, 0, 'x']] * 5]], 'verts_list entry 0 is not a'),
    ([[[[0, 0, 0]] * 21], [[[0, 0, float('nan')]] * 5]],
     r'verts_list: non-finite values \(NaN\) in sample 0'),
])
def test_wrong_structure_is_explained(tmp_path, data, message):
    path = _write(tmp_path / 'pred.json', json.dumps(data))
    with pytest.raises(SubmissionError, match=message):
        load_prediction(path)


def test_zip_without_pred_json(tmp_path):
    path = tmp_path / 'pred.zip'
    with zipfile.ZipFile(path, 'w') as zf:
        zf.writestr('a.txt', 'x')
        zf.writestr('b.txt', 'y')
    with pytest.raises(SubmissionError, match='no pred.json'):
        load_prediction(path)


def test_load_gt(tmp_path, hands):
    _write(tmp_path / 'evaluation_xyz.json', json.dumps(hands[2].tolist()))
    with pytest.raises(SubmissionError, match='evaluation_verts.json'):
        load_gt(tmp_path)
    _write(tmp_path / 'evaluation_verts.json', json.dumps(hands[3].tolist()))
    xyz, verts = load_gt(tmp_path)
    np.testing.assert_array_equal(verts, hands[3])
    assert xyz.shape == (6, 21, 3)
