"""Fixtures for the stand-in dataset generator tests: tiny datasets generated once per session
with the stand-in hand model (not MANO) built in a temporary cache (never ~/.cache)."""
import numpy as np
import pytest

TINY_FREIHAND = dict(num_train=4, num_eval=2, versions=2, img_size=128)
TINY_HO3D = dict(num_train=6, num_eval=3, num_seqs=2)
TINY_UNLABELED = dict(num=8, img_size=96, left_prob=0.5)


@pytest.fixture(scope='session')
def gen_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv('MMHANDMIM_CACHE', str(tmp_path_factory.mktemp('mmhandmim_cache')))
    yield
    mp.undo()


@pytest.fixture(scope='session')
def hands(gen_cache):
    from mmhandmim.standin.generation import StandinHands
    return StandinHands()


@pytest.fixture(scope='session')
def freihand_root(tmp_path_factory, hands):
    from mmhandmim.standin.generation import generate_freihand
    root = tmp_path_factory.mktemp('freihand')
    generate_freihand(str(root), seed=3, progress=False, hands=hands, **TINY_FREIHAND)
    return root


@pytest.fixture(scope='session')
def ho3d_root(tmp_path_factory, hands):
    from mmhandmim.standin.generation import generate_ho3d
    root = tmp_path_factory.mktemp('ho3d')
    generate_ho3d(str(root), seed=3, progress=False, hands=hands, **TINY_HO3D)
    return root


@pytest.fixture(scope='session')
def unlabeled_root(tmp_path_factory, hands):
    from mmhandmim.standin.generation import generate_unlabeled
    root = tmp_path_factory.mktemp('unlabeled')
    generate_unlabeled(str(root), seed=3, progress=False, hands=hands, **TINY_UNLABELED)
    return root


@pytest.fixture(scope='session')
def layers(gen_cache):
    """MANOLayer('standin', flat_hand_mean=False) in both keypoint orders."""
    from mmhandmim.hand_model import MANOLayer
    return {order: MANOLayer('standin', keypoint_order=order, flat_hand_mean=False)
            for order in ('freihand', 'ho3d')}


def project_cv(K, X):
    p = np.asarray(X, np.float64) @ np.asarray(K, np.float64).T
    return p[:, :2] / p[:, 2:]


def inside(mask, uv, margin=2):
    """Whether each (u, v) pixel position (pixel centres at +0.5) is within ``margin`` px of
    a mask pixel."""
    import cv2
    k = 2 * margin + 1
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    col = np.floor(uv[:, 0]).astype(int)
    row = np.floor(uv[:, 1]).astype(int)
    ok = (col >= 0) & (row >= 0) & (col < mask.shape[1]) & (row < mask.shape[0])
    out = np.zeros(len(uv), bool)
    out[ok] = grown[row[ok], col[ok]]
    return out
