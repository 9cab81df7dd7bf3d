"""Without boxes, the inference API, the image demo and the pre-training list tool use the
MediaPipe detector: one estimate / .obj / list line per detected hand, with its side (a
mirrored copy of a right hand is a left hand). Detector quality itself is measured in
test_hand_detection.py; here the images are picked where it finds one hand."""
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmhandmim.apis import HandDetector, inference_mesh_model, init_mesh_model
from mmhandmim.datasets.hand_lists import read_hand_list

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@pytest.fixture(scope='module')
def hand_image(tmp_path_factory):
    """(right-hand image, its mirror, their detections): the first generated 256 px image
    where the detector finds one right hand and, in the mirror, one left hand."""
    from mmhandmim.standin.generation import generate_freihand
    root = str(tmp_path_factory.mktemp('freihand_detect'))
    generate_freihand(root, num_train=0, num_eval=16, versions=1, img_size=128, seed=0,
                      progress=False)
    rgb = osp.join(root, 'evaluation', 'rgb')
    with HandDetector() as detect:
        for name in sorted(os.listdir(rgb)):
            img = cv2.resize(cv2.imread(osp.join(rgb, name)), (256, 256))
            mirror = np.ascontiguousarray(img[:, ::-1])
            a, b = detect(img), detect(mirror)
            if [h.side for h in a] == ['right'] and [h.side for h in b] == ['left']:
                return img, mirror, a, b
    pytest.fail('no generated image with one detected right hand (the detector changed?)')


def test_api_estimates_each_detected_hand_with_its_side(tiny_ckpt, hand_image):
    img, mirror, found, found_m = hand_image
    model = init_mesh_model(*tiny_ckpt)
    with HandDetector() as det:
        for image, hands_found in ((img, found), (mirror, found_m)):
            hands = inference_mesh_model(model, image, detector=det)
            assert [h['hand_side'] for h in hands] == [h.side for h in hands_found]
            np.testing.assert_allclose(hands[0]['bbox'], hands_found[0].bbox, atol=1e-3)
            assert hands[0]['detection_score'] == pytest.approx(hands_found[0].score)
            # the same as giving the detected box and side by hand
            ref = inference_mesh_model(model, image, [hands_found[0].bbox],
                                       [hands_found[0].side])
            np.testing.assert_allclose(hands[0]['vertices'], ref[0]['vertices'], atol=1e-6)
    # without a detector: the whole image is one right hand, as before
    whole = inference_mesh_model(model, img)
    assert len(whole) == 1 and whole[0]['bbox'].tolist() == [0, 0, 256, 256]
    assert 'detection_score' not in whole[0]


def test_demo_without_boxes_writes_one_mesh_per_detected_hand(tiny_ckpt, hand_image,
                                                               tmp_path):
    img, mirror, _, _ = hand_image
    imgs = tmp_path / 'imgs'
    imgs.mkdir()
    cv2.imwrite(str(imgs / 'right.png'), img)
    cv2.imwrite(str(imgs / 'left.png'), mirror)
    cv2.imwrite(str(imgs / 'blank.png'), np.full_like(img, 128))
    out = tmp_path / 'out'
    run = subprocess.run([sys.executable, 'demo/image_demo.py', *tiny_ckpt, str(imgs),
                          '--out-dir', str(out)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(os.listdir(out)) == sorted([
        'blank_overlay.png', 'blank_side.png', 'left_hand0.obj', 'left_overlay.png',
        'left_side.png', 'right_hand0.obj', 'right_overlay.png', 'right_side.png'])
    assert 'left hand' in (out / 'left_hand0.obj').read_text().splitlines()[0]
    assert 'right hand' in (out / 'right_hand0.obj').read_text().splitlines()[0]
    assert 'wrote 2 hand(s) from 3 image(s)' in run.stdout
    # a rerun refuses before any work: the detected hands' .obj files would be replaced
    again = subprocess.run([sys.executable, 'demo/image_demo.py', *tiny_ckpt, str(imgs),
                            '--out-dir', str(out)], cwd=ROOT, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 2 and 'would be overwritten' in again.stderr


def test_detect_hands_tool_writes_a_resumable_hand_list(hand_image, tmp_path):
    img, mirror, found, found_m = hand_image
    imgs = tmp_path / 'imgs'
    (imgs / 'sub dir').mkdir(parents=True)
    cv2.imwrite(str(imgs / 'right.png'), img)
    cv2.imwrite(str(imgs / 'sub dir' / 'left.png'), mirror)
    cv2.imwrite(str(imgs / 'blank.png'), np.full_like(img, 128))
    lst = tmp_path / 'hands.txt'
    cmd = [sys.executable, 'tools/dataset_converters/detect_hands.py', str(imgs),
           '--out-list', str(lst)]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert '2 hands (1 left) from 3 images' in run.stdout and '1 no hand' in run.stdout
    entries, bad = read_hand_list(str(lst))  # the format make_pretrain_crops.py reads
    assert bad == [] and [(e[1], e[3]) for e in entries] == [
        ('right.png', 'right'), ('sub dir/left.png', 'left')]
    text = lst.read_text().splitlines()
    assert len(text) == 2
    assert text[0].startswith('right.png ') and text[0].endswith(' r')
    assert text[1].startswith('"sub dir/left.png" ') and text[1].endswith(' l')
    box = [float(v) for v in text[0].split()[1:5]]
    np.testing.assert_allclose(box, found[0].bbox, atol=0.01)
    # resumed: nothing is detected again, nothing duplicated; --restart starts over
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and 'from 0 images this run (3 done before)' in again.stdout
    assert lst.read_text().splitlines() == text
    # a list it did not write is never replaced without --restart
    other = tmp_path / 'mine.txt'
    other.write_text('keep me\n')
    refused = subprocess.run(cmd[:-1] + [str(other)], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert refused.returncode == 2 and '--restart' in refused.stderr
    assert other.read_text() == 'keep me\n'
