"""Keypoint drawing and grid tiling."""
import os

import cv2
import numpy as np
import pytest

from mmhandmim.visualization import draw_keypoints, make_grid


def test_keypoints_drawn_at_their_pixel_and_input_untouched():
    img = np.zeros((40, 50, 3), np.uint8)
    kpts = np.array([[10.5, 20.5], [40.5, 20.5], [np.nan, 5.0]])
    out = draw_keypoints(img, kpts, links=[(0, 1), (1, 2)], point_color=(0, 255, 0),
                         link_colors=[(255, 0, 0), (0, 0, 255)], radius=2, thickness=1)
    assert not img.any()                                   # drawn on a copy
    # Anti-aliased dots/lines: the centre pixel carries most of the colour, no other channel.
    for r, c in [(20, 10), (20, 40)]:
        assert out[r, c, 1] > 200 and out[r, c, 0] == out[r, c, 2] == 0
        assert out[r, c, 1] >= out[r - 1:r + 2, c - 1:c + 2, 1].max()
    assert out[20, 25, 0] > 200 and out[19, 25, 0] < 100    # the 1 px link between them
    assert not out[..., 2].any()                           # link to a NaN point skipped
    # Integer-centred coordinates land on the same pixels with center_offset=0.
    same = draw_keypoints(img, kpts - 0.5, links=[(0, 1)], point_color=(0, 255, 0),
                          link_colors=[(255, 0, 0)], radius=2, thickness=1, center_offset=0)
    np.testing.assert_array_equal(same, out)


def test_low_score_keypoints_are_skipped():
    img = np.zeros((30, 30, 3), np.uint8)
    out = draw_keypoints(img, [[5.5, 5.5], [25.5, 25.5]], links=[(0, 1)], scores=[0.9, 0.1],
                         score_thr=0.3)
    assert out[5, 5].any() and not out[25, 25].any() and not out[15, 15].any()
    with pytest.raises(ValueError):
        draw_keypoints(img, [[1, 1]], links=[(0, 3)])
    with pytest.raises(ValueError):
        draw_keypoints(img.astype(np.float32), [[1, 1]])


def test_make_grid_layout(tmp_path):
    a = np.full((10, 12, 3), 50, np.uint8)
    b = np.full((8, 6), 100, np.uint8)                     # grey, smaller
    c = np.full((10, 12, 4), 150, np.uint8)
    grid = make_grid([a, b, c], ncols=2, pad=1, path=os.path.join(tmp_path, 'g.png'))
    assert grid.shape == (2 * 10 + 3, 2 * 12 + 3, 4)
    assert (grid[1:11, 1:13, :3] == 50).all() and (grid[1:11, 1:13, 3] == 255).all()
    assert (grid[1:9, 14:20] == [100, 100, 100, 255]).all() and (grid[1:9, 20:26] == 255).all()
    assert (grid[12:22, 1:13] == 150).all() and (grid[0] == 255).all()
    np.testing.assert_array_equal(cv2.imread(os.path.join(tmp_path, 'g.png'),
                                             cv2.IMREAD_UNCHANGED), grid)
    assert make_grid([b], ncols=3, pad=0).shape == (8, 6)
    with pytest.raises(ValueError):
        make_grid([], ncols=2)
