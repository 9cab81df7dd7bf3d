"""Stand-in datasets in the real datasets' file layouts (FreiHAND v2, HO3D v2, unlabeled hand
crops), rendered from the procedural stand-in hand model (not MANO), so the loaders written
for the real data run on them.

Conventions of the stored data (also written to each root's ``standin_info.json``):

* MANO parameters: 48 axis-angle pose values (global orientation + 15 finger joints), 10
  betas, and MANO rotating about the rest-pose root joint J0. Each dataset in its own
  convention: FreiHAND's finger part is *relative to* ``hands_mean`` (smplx
  ``flat_hand_mean=False``; ``MANOLayer('standin')`` re-poses it); HO3D's is absolute, as real
  HO3D's (``flat_hand_mean=True``, its official ``forwardKinematics``; re-posed by
  ``MANOLayer('standin', flat_hand_mean=True)`` with ``handTrans``), to ~1e-7 m.
* Fingertips are the stand-in's own vertex ids (``STANDIN_FINGERTIP_IDS``).
* FreiHAND and the unlabeled crops: OpenCV camera frame (+z forward), ``u = K x / z``;
  HO3D: OpenGL frame (hand at -z), ``F = diag(1, -1, -1)`` before projecting with camMat.
* Every sample's random generator is ``default_rng([seed, split_id, index...])``: the output
  is a function of the seed and the arguments only.
"""
from .common import GENERATOR_VERSION, INFO_FILE, OutputExistsError, sample_rng
from .freihand_writer import generate_freihand
from .ho3d_writer import generate_ho3d
from .scene import StandinHands
from .unlabeled_writer import generate_unlabeled

__all__ = ['GENERATOR_VERSION', 'INFO_FILE', 'OutputExistsError', 'sample_rng',
           'StandinHands', 'generate_freihand', 'generate_ho3d', 'generate_unlabeled']
