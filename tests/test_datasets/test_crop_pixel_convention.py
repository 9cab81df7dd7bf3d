"""The cropped image and the cropped K agree to a fraction of a pixel (continuous pixel
coordinates: pixel i spans [i, i+1)), at zooms other than 1."""
import numpy as np
import pytest

from mmhandmim.datasets.transforms import MeshTopdownAffine
from mmhandmim.structures import project


def blob_image(size, centre, sigma=2.0):
    """A Gaussian blob whose intensity centroid is ``centre`` in continuous coordinates."""
    ys, xs = np.mgrid[0:size, 0:size] + 0.5  # pixel centres
    blob = np.exp(-((xs - centre[0])**2 + (ys - centre[1])**2) / (2 * sigma**2))
    return np.repeat((blob * 255).astype(np.float32)[..., None], 3, axis=2)


def centroid(img):
    w = img[..., 0].astype(np.float64)
    ys, xs = np.mgrid[0:w.shape[0], 0:w.shape[1]] + 0.5
    return np.array([(w * xs).sum(), (w * ys).sum()]) / w.sum()


@pytest.mark.parametrize('box_size,rotation', [(40.0, 0.0), (160.0, 0.0), (60.0, 30.0)])
def test_crop_content_lands_where_the_new_K_projects(box_size, rotation):
    K = np.array([[200.0, 0, 60.0], [0, 200.0, 60.0], [0, 0, 1]])
    point = np.array([[0.021, -0.013, 0.5]])
    uv = project(point, K)[0]
    results = dict(img=blob_image(128, uv), bbox_center=np.array([[62.0, 58.0]]),
                   bbox_scale=np.array([[box_size, box_size]]), cam_K=K[None],
                   bbox_rotation=np.array([rotation]), keypoints_3d=point[None],
                   keypoints=uv[None, None].astype(np.float32))
    out = MeshTopdownAffine(input_size=(64, 64)).transform(results)
    # the in-plane rotation moves the 3D point (camera rotated about its axis)
    expected = project(out['keypoints_3d'][0], out['cam_K'][0])[0]
    np.testing.assert_allclose(out['keypoints'][0, 0], expected, atol=1e-4)
    # box 40 px -> 64 px is a zoom of 1.6: the cv2 convention alone would be 0.3 px off
    np.testing.assert_allclose(centroid(out['img']), expected, atol=0.05)
