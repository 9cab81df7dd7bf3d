"""Tiny generated FreiHAND / HO3D roots (stand-in hand model, not MANO), once per session."""
import pytest


@pytest.fixture(scope='session')
def mesh_roots(tmp_path_factory):
    from mmhandmim.standin.generation import (StandinHands, generate_freihand,
                                               generate_ho3d)
    hands = StandinHands()
    fr = tmp_path_factory.mktemp('freihand')
    generate_freihand(str(fr), num_train=6, num_eval=3, versions=2, img_size=128, seed=1,
                      progress=False, hands=hands)
    ho = tmp_path_factory.mktemp('ho3d')
    generate_ho3d(str(ho), num_train=6, num_eval=4, num_seqs=2, seed=1, progress=False,
                  hands=hands)
    return dict(freihand=str(fr), ho3d=str(ho))
