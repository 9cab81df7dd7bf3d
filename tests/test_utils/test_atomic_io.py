"""utils.atomic_io: a reader sees the old content or all of the new, never a temporary file."""
import os

import numpy as np
import pytest

from mmhandmim.utils.atomic_io import (atomic_directory, atomic_output, atomic_write_bytes,
                                       atomic_write_text)


def _temps(folder):
    return sorted(n for n in os.listdir(folder) if '.tmp' in n)


def test_failing_writer_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / 'pred.zip'
    path.write_bytes(b'old')
    with pytest.raises(RuntimeError, match='writer died'):
        with atomic_output(path) as tmp:
            with open(tmp, 'wb') as f:
                f.write(b'half')
            raise RuntimeError('writer died')
    assert path.read_bytes() == b'old' and _temps(tmp_path) == []


def test_temporary_is_hidden_and_has_no_target_suffix(tmp_path):
    path = tmp_path / 'epoch_1.pth'
    with atomic_output(path) as tmp:
        name = os.path.basename(tmp)
        assert name.startswith('.epoch_1.pth.tmp.') and not name.endswith('.pth')
        with open(tmp, 'wb') as f:  # a file object: np.savez would append .npz to a name
            np.savez(f, a=np.arange(3))
    np.testing.assert_array_equal(np.load(path)['a'], np.arange(3))
    assert _temps(tmp_path) == []


def test_text_and_bytes_replace_and_keep_the_mode(tmp_path):
    path = tmp_path / 'list.txt'
    atomic_write_text('a\n', path)
    os.chmod(path, 0o640)
    atomic_write_bytes(b'b\n', path)
    assert path.read_text() == 'b\n' and (os.stat(path).st_mode & 0o777) == 0o640


def test_stale_temporaries_of_killed_writers_are_removed(tmp_path):
    stale = tmp_path / '.x.json.tmp.123.abcdef01.json'
    stale.write_text('{')
    atomic_write_text('{}', tmp_path / 'x.json')
    assert _temps(tmp_path) == [] and (tmp_path / 'x.json').read_text() == '{}'


def test_directory_is_published_whole_or_not_at_all(tmp_path):
    target = tmp_path / 'arrays'
    with pytest.raises(ValueError):
        with atomic_directory(target) as tmp:
            (tmp_path / os.path.basename(tmp) / 'a.npy').write_bytes(b'x')
            raise ValueError('build failed')
    assert not target.exists() and _temps(tmp_path) == []
    with atomic_directory(target) as tmp:
        open(os.path.join(tmp, 'a.npy'), 'wb').close()
    assert sorted(os.listdir(target)) == ['a.npy'] and _temps(tmp_path) == []
    with atomic_directory(target) as tmp:  # someone else was first: theirs is kept
        open(os.path.join(tmp, 'b.npy'), 'wb').close()
    assert sorted(os.listdir(target)) == ['a.npy'] and _temps(tmp_path) == []
