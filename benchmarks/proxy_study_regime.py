"""The proxy study's regime checks: is this a setting in which an initialisation can matter?

A comparison of pre-trainings reads nothing when fine-tuning from scratch does not beat a
constant hand (then no initialisation can matter), when a frozen random backbone does as well
as a trained one (then the backbone does not matter), when the class-token loss of plain iBOT
sits at ln K (then the pre-training's class objective never acts), or when a feature probe
cannot tell a fine-tuned backbone from a random one. The first study measured nothing for the
first and third reasons (``docs/proxy_study.md``, "superseded"). These functions decide, from
the study's records, which of those hold; ``proxy_study.py`` prints them before any table and
reads the comparisons only where they pass.

"Clearly" is one rule everywhere: the mean over seeds is better by at least ``margin``
(relative) *and* by more than twice the seeds' spread (the larger sample std of the two sides;
a baseline's is 0), so a gap within the seed noise never counts.
"""
import math
from typing import Dict, List, Sequence

import numpy as np

#: relative margin of "clearly better"
MARGIN = 0.05
#: the class loss must end this far below ln K (nats) to have left the uniform solution
LNK_GAP = 0.5
#: "a teacher that ends mostly trained": at most this share of its random initialisation left
TEACHER_INIT_SHARE = 0.1
#: metrics the fine-tuning checks are made on: the paper's (after Procrustes alignment) and
#: FreiHAND's unaligned one (which also counts the global orientation, scale and depth)
CHECK_METRICS = ('pa_mpjpe', 'mpjpe')


def _std(values: Sequence[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def clearly_lower(better: Sequence[float], worse: Sequence[float],
                  margin: float = MARGIN) -> Dict:
    """Is ``mean(better)`` clearly below ``mean(worse)``? (errors: lower is better)"""
    b, w = float(np.mean(better)), float(np.mean(worse))
    spread = max(_std(better), _std(worse))
    ratio = b / w
    ok = bool(ratio <= 1 - margin and w - b > 2 * spread)
    return dict(ok=ok, better=b, worse=w, ratio=ratio, spread=spread)


def finetune_checks(scratch: Sequence[Dict], frozen_random: Sequence[Dict],
                    baselines: Dict[str, Dict[str, float]],
                    metrics: Sequence[str] = CHECK_METRICS) -> Dict[str, Dict]:
    """Checks (a) and (b) per metric.

    Args:
        scratch: metric dicts of full fine-tunings from random initialisation (one per seed).
        frozen_random: the same head trained on a frozen random backbone (one per seed).
        baselines: ``{'constant': {...}, 'mean_pose': {...}}`` on the same evaluation split.

    Returns:
        ``{metric: {'beats_baselines': ..., 'backbone_matters': ..., 'ok': bool}}``; (a)
        compares against the better of the two trivial baselines.
    """
    out = {}
    for m in metrics:
        s = [r[m] for r in scratch]
        best_name = min(baselines, key=lambda n: baselines[n][m])
        a = clearly_lower(s, [baselines[best_name][m]])
        a['baseline'] = best_name
        b = clearly_lower(s, [r[m] for r in frozen_random])
        out[m] = dict(beats_baselines=a, backbone_matters=b, ok=a['ok'] and b['ok'])
    return out


def class_loss_check(final_class_losses: Sequence[float], num_prototypes: int) -> Dict:
    """Check (c): the plain iBOT class loss ends clearly below ln K in every seed."""
    lnk = math.log(num_prototypes)
    worst = float(max(final_class_losses))
    return dict(ok=bool(worst <= lnk - LNK_GAP), lnk=lnk, worst=worst,
                values=[float(v) for v in final_class_losses])


def teacher_check(init_share: float) -> Dict:
    """The teacher the study extracts keeps at most ``TEACHER_INIT_SHARE`` of its init."""
    return dict(ok=bool(init_share <= TEACHER_INIT_SHARE), init_share=float(init_share))


def probe_checks(finetuned: Sequence[Dict], random: Sequence[Dict],
                 keys: Sequence[str]) -> Dict[str, Dict]:
    """Does each probe rank a fine-tuned backbone clearly above a random one?

    ``finetuned`` / ``random``: probe records (one per seed) with an error under each key.
    A probe that fails this is printed but not read on pre-trained features.
    """
    return {k: clearly_lower([r[k] for r in finetuned], [r[k] for r in random])
            for k in keys}


def readable_metrics(checks: Dict[str, Dict]) -> List[str]:
    """The metrics on which the comparisons can be read (checks (a) and (b) hold)."""
    return [m for m, c in checks.items() if c['ok']]


def describe(checks: Dict[str, Dict], cls: Dict, teacher: Dict, labels: Dict[str, str]) -> List[str]:
    """One line per check, ``PASS``/``FAIL`` first, with the numbers it was decided on."""

    def verdict(ok):
        return 'PASS' if ok else 'FAIL'

    lines = []
    for m, c in checks.items():
        a, b = c['beats_baselines'], c['backbone_matters']
        lines.append(
            f'{verdict(a["ok"])} (a) {labels[m]}: from scratch {a["better"]:.2f} vs '
            f'{a["baseline"].replace("_", " ")} {a["worse"]:.2f} ({a["ratio"]:.3f}x; needs '
            f'<= {1 - MARGIN:.2f}x and a gap > 2 x seed std {a["spread"]:.2f})')
        lines.append(
            f'{verdict(b["ok"])} (b) {labels[m]}: frozen random ViT {b["worse"]:.2f} vs '
            f'trained {b["better"]:.2f} (trained {b["ratio"]:.3f}x; needs <= {1 - MARGIN:.2f}x '
            f'and a gap > 2 x seed std {b["spread"]:.2f})')
    lines.append(
        f'{verdict(cls["ok"])} (c) plain iBOT class loss at the end: worst seed '
        f'{cls["worst"]:.3f} vs ln K = {cls["lnk"]:.3f} (needs <= ln K - {LNK_GAP})')
    lines.append(
        f'{verdict(teacher["ok"])} teacher: {100 * teacher["init_share"]:.1f} % of its random '
        f'initialisation left at the end (needs <= {100 * TEACHER_INIT_SHARE:.0f} %)')
    return lines
