"""Patch masks for masked image modelling, drawn per view as in iBOT.

iBOT (``ImageFolderMask``) draws for each view a ratio ``U[ratio_min, ratio_max]`` and either
leaves the view unmasked or masks it (its ViT-B/L recipes ``--pred_ratio 0 0.3
--pred_ratio_var 0 0.2`` pick each with probability 0.5). Block masks follow BEiT with
iBOT's changes: blocks of at least ``(min(h, w) // 3) ** 2`` patches (16 on 14x14), log-uniform
aspect in (0.3, 1/0.3), a target of ``ratio * h * w`` patches that is approached from below
and abandoned after 10 failed placements. mmpretrain's ``BEiTMaskGenerator`` is not reused
because it draws from the global numpy state and loops until an exact count is hit.
"""
import math

import numpy as np


class PatchMaskGenerator:
    """Draws boolean ``(h, w)`` masks (True = masked) from a given ``np.random.Generator``.

    Args:
        grid (tuple[int, int]): patch grid ``(h, w)``.
        ratio (tuple[float, float]): mask ratio range, drawn uniformly per view.
        prob (float): probability that a view is masked at all.
        shape (str): ``'block'`` (BEiT/iBOT) or ``'random'`` (patches uniformly at random).
        min_block (int, optional): smallest block in patches; iBOT's ``(min(h, w)//3)**2``.
        aspect (tuple[float, float]): block aspect-ratio range.
    """

    def __init__(self, grid, ratio=(0.1, 0.5), prob=0.5, shape='block', min_block=None,
                 aspect=(0.3, 1 / 0.3)):
        if shape not in ('block', 'random'):
            raise ValueError(f"mask shape must be 'block' or 'random', got {shape!r}")
        self.h, self.w = grid
        self.ratio, self.prob, self.shape = tuple(ratio), prob, shape
        self.min_block = (min(grid) // 3) ** 2 if min_block is None else min_block
        self.log_aspect = (math.log(aspect[0]), math.log(aspect[1]))

    def __call__(self, rng: np.random.Generator) -> np.ndarray:
        mask = np.zeros((self.h, self.w), dtype=bool)
        if rng.random() >= self.prob:
            return mask
        target = rng.uniform(*self.ratio) * self.h * self.w
        if self.shape == 'random':
            mask.flat[rng.permutation(mask.size)[:int(target)]] = True
            return mask
        count = 0
        while count < target:
            added = self._add_block(mask, target - count, rng)
            if added == 0:
                break
            count += added
        return mask

    def _add_block(self, mask, budget, rng):
        for _ in range(10):
            # python's random.uniform (iBOT) also allows budget < min_block: area in between
            area = self.min_block + (budget - self.min_block) * rng.random()
            aspect = math.exp(rng.uniform(*self.log_aspect))
            bh, bw = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if bw < self.w and bh < self.h:
                top = rng.integers(0, self.h - bh + 1)
                left = rng.integers(0, self.w - bw + 1)
                block = mask[top:top + bh, left:left + bw]
                added = bh * bw - int(block.sum())
                if 0 < added <= budget:
                    block[...] = True
                    return added
        return 0
