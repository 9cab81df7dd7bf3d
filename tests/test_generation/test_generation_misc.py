"""Unlabeled crops, determinism, --overwrite and the command-line tool."""
import filecmp
import importlib.util
import os

import cv2
import pytest
from .conftest import TINY_UNLABELED

from mmhandmim.datasets.hand_lists import parse_list_line

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_unlabeled_list(unlabeled_root):
    root = str(unlabeled_root)
    with open(os.path.join(root, 'list.txt')) as f:
        lines = [line.strip() for line in f]
    n, size = TINY_UNLABELED['num'], TINY_UNLABELED['img_size']
    assert len(lines) == n
    assert sorted(os.listdir(os.path.join(root, 'images'))) == ['%08d.jpg' % i for i in range(n)]
    sides = set()
    for i, line in enumerate(lines):
        path, box, side = parse_list_line(line)
        assert path == 'images/%08d.jpg' % i
        assert 0 <= box[0] < box[2] <= size and 0 <= box[1] < box[3] <= size
        assert cv2.imread(os.path.join(root, path)).shape == (size, size, 3)
        sides.add(side)
    assert sides == {'left', 'right'}


def _tiny_freihand(root, seed, hands, **kw):
    from mmhandmim.standin.generation import generate_freihand
    generate_freihand(str(root), num_train=2, num_eval=1, versions=2, img_size=64, seed=seed,
                      progress=False, hands=hands, **kw)
    return root


def test_determinism(tmp_path, hands):
    a = _tiny_freihand(tmp_path / 'a', 5, hands)
    b = _tiny_freihand(tmp_path / 'b', 5, hands, chunk_size=1)    # chunking does not matter
    c = _tiny_freihand(tmp_path / 'c', 6, hands)
    names = ['training_K.json', 'training_mano.json', 'training_xyz.json',
             'training_verts.json', 'evaluation_mano.json', 'training/rgb/00000003.jpg',
             'training/mask/00000001.jpg', 'evaluation/rgb/00000000.jpg',
             'standin_info.json']
    for name in names:
        assert filecmp.cmp(a / name, b / name, shallow=False), name
    for name in names[:5] + names[5:6]:
        assert not filecmp.cmp(a / name, c / name, shallow=False), name


def test_ho3d_determinism(tmp_path, hands):
    from mmhandmim.standin.generation import generate_ho3d
    for d in ('a', 'b'):
        generate_ho3d(str(tmp_path / d), num_train=2, num_eval=1, num_seqs=1, seed=2,
                      progress=False, hands=hands)
    for name in ('evaluation_xyz.json', 'evaluation_verts.json', 'train/SA10/rgb/0001.png',
                 'train/SA10/meta/0001.pkl', 'train.txt'):
        assert filecmp.cmp(tmp_path / 'a' / name, tmp_path / 'b' / name, shallow=False), name


def test_overwrite(tmp_path, hands):
    from mmhandmim.standin.generation import OutputExistsError
    root = _tiny_freihand(tmp_path / 'fh', 0, hands)
    with pytest.raises(OutputExistsError, match='--overwrite'):
        _tiny_freihand(root, 0, hands)
    (root / 'notes.txt').write_text('kept')
    _tiny_freihand(root, 1, hands, overwrite=True)
    assert (root / 'notes.txt').read_text() == 'kept'     # only our own entries are replaced
    assert len(os.listdir(root / 'training' / 'rgb')) == 4
    real = tmp_path / 'real'
    real.mkdir()
    (real / 'training_xyz.json').write_text('[]')
    with pytest.raises(OutputExistsError, match='no standin_info.json'):
        _tiny_freihand(real, 0, hands, overwrite=True)
    assert (real / 'training_xyz.json').read_text() == '[]'


def _tool():
    path = os.path.join(ROOT, 'tools', 'dataset_converters', 'generate_standin_data.py')
    spec = importlib.util.spec_from_file_location('generate_standin_data', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cli(tmp_path, capsys, gen_cache):
    tool = _tool()
    out = tmp_path / 'fh'
    argv = ['freihand', '--out-dir', str(out), '--num-train', '2', '--num-eval', '1',
            '--versions', '1', '--img-size', '64']
    assert tool.main(argv) == 0
    text = capsys.readouterr().out
    assert 'stand-in hand model (not MANO)' in text and str(out) in text
    assert len(os.listdir(out / 'training' / 'rgb')) == 2
    assert tool.main(argv) == 2                       # non-empty target refused
    assert '--overwrite' in capsys.readouterr().err
    assert tool.main(argv + ['--overwrite']) == 0
    parent = tmp_path / 'all'
    (parent / 'ho3d').mkdir(parents=True)
    (parent / 'ho3d' / 'x').write_text('')
    assert tool.main(['all', '--out-dir', str(parent), '--overwrite']) == 2
    assert 'no standin_info.json' in capsys.readouterr().err
    assert sorted(os.listdir(parent)) == ['ho3d']      # refused before writing anything
