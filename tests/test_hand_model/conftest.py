"""Fixtures for the hand-model tests: one stand-in hand model (not MANO) per session, built in
a temporary cache directory so tests never touch ~/.cache."""
import numpy as np
import pytest


@pytest.fixture(scope='session')
def standin_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv('MMHANDMIM_CACHE', str(tmp_path_factory.mktemp('mmhandmim_cache')))
    from mmhandmim.standin.hand import standin_mano_dir
    yield standin_mano_dir()
    mp.undo()


@pytest.fixture(scope='session')
def standin_right(standin_dir):
    import os

    from mmhandmim.hand_model.mano_io import load_mano_dict
    return load_mano_dict(os.path.join(standin_dir, 'MANO_RIGHT.pkl'))


def winding_numbers(points, vertices, faces):
    """Generalised winding number of each point w.r.t. a closed triangle mesh (vectorised).

    ~1 inside, ~0 outside (Van Oosterom & Strackee solid angles, summed / 4 pi).
    """
    a = vertices[faces[:, 0]][None] - points[:, None]
    b = vertices[faces[:, 1]][None] - points[:, None]
    c = vertices[faces[:, 2]][None] - points[:, None]
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    det = np.einsum('pfi,pfi->pf', a, np.cross(b, c))
    dot = lambda x, y: np.einsum('pfi,pfi->pf', x, y)  # noqa: E731
    den = la * lb * lc + dot(a, b) * lc + dot(b, c) * la + dot(c, a) * lb
    return 2 * np.arctan2(det, den).sum(1) / (4 * np.pi)


@pytest.fixture(scope='session')
def winding():
    return winding_numbers
