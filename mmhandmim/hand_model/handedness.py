"""Which hand a MANO-format model file holds, read from its rest-pose skeleton.

MANO files carry no left/right flag, and a left model loaded as the right one (a renamed or
mis-copied ``MANO_LEFT.pkl``) gives mirrored hands without any error. The rest joints tell the
hands apart: with ``n = (index MCP - wrist) x (pinky MCP - wrist)``, the thumb lies on the
``+n`` side for a right hand (``n`` points out of the palm and the resting thumb sits in front
of the palm) and on the ``-n`` side for a mirrored one, whatever the file's axes. MANO joint
order: 0 wrist, 1 index MCP, 7 pinky MCP, 13-15 thumb.

The stand-in hand model gives a cosine of +0.18 (right) / -0.18 (left). The official MANO
files could not be checked here (licence-gated): the rule relies on their resting thumb sitting
in front of the palm, as in every rest pose we know of. ``MANOLayer(check_handedness=False)``
switches the check off.
"""
import numpy as np

#: |cosine| below this: the thumb is too close to the palm plane to decide
UNDECIDED = 0.05


def thumb_side_cosine(joints: np.ndarray) -> float:
    """Cosine between the palm normal ``n`` and the wrist-to-thumb direction (16 MANO joints)."""
    j = np.asarray(joints, dtype=np.float64)
    wrist = j[0]
    normal = np.cross(j[1] - wrist, j[7] - wrist)
    thumb = j[13:16].mean(0) - wrist
    denom = np.linalg.norm(normal) * np.linalg.norm(thumb)
    return float(normal @ thumb / denom) if denom > 0 else 0.0


def rest_joints(data) -> np.ndarray:
    """The 16 rest joints ``J_regressor @ v_template`` of a loaded MANO dict."""
    return np.asarray(data['J_regressor'] @ np.asarray(data['v_template'], dtype=np.float64))


def check_handedness(data, path: str, is_rhand: bool) -> None:
    """Raise a ValueError if the model in ``data`` is clearly the other hand."""
    cos = thumb_side_cosine(rest_joints(data))
    if abs(cos) < UNDECIDED or (cos > 0) == bool(is_rhand):
        return
    held, wanted = ('left', 'right') if is_rhand else ('right', 'left')
    raise ValueError(
        f'{path!r} holds a {held}-hand model (its resting thumb is on the {held} hand\'s side '
        f'of the palm, cosine {cos:+.2f}), but the {wanted} hand was asked for '
        f'(is_rhand={bool(is_rhand)}). Use MANO_{wanted.upper()}.pkl, or pass '
        'check_handedness=False to MANOLayer if the file is right.')
