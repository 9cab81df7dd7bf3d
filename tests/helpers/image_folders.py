"""Generated image folders for the tool tests: discs vs. squares, one sub-folder per class."""
import os

import cv2
import numpy as np


def make_shape_folder(root, n_per_class=8, size=32, seed=0, splits=('train', 'val')):
    rng = np.random.default_rng(seed)
    for split in splits:
        for label, shape in enumerate(('disc', 'square')):
            d = os.path.join(root, split, shape)
            os.makedirs(d, exist_ok=True)
            for i in range(n_per_class):
                img = np.full((size, size, 3), rng.integers(0, 80, 3), np.uint8)
                colour = tuple(int(c) for c in rng.integers(120, 256, 3))
                c = rng.integers(size // 3, 2 * size // 3, 2)
                r = int(rng.integers(size // 6, size // 3))
                if label == 0:
                    cv2.circle(img, (int(c[0]), int(c[1])), r, colour, -1)
                else:
                    cv2.rectangle(img, (int(c[0] - r), int(c[1] - r)),
                                  (int(c[0] + r), int(c[1] + r)), colour, -1)
                cv2.imwrite(os.path.join(d, f'{i:04d}.png'), img)
    return root
