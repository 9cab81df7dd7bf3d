"""demo/image_demo.py on a folder of two images: the expected files with the API's meshes,
refusal to overwrite, one-line errors."""
import importlib.util
import json
import os
import os.path as osp
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

from mmhandmim.apis import inference_mesh_model, init_mesh_model

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(ROOT, 'demo', 'image_demo.py')
BOXES = {'b.png': [[5, 5, 60, 70], {'bbox': [30, 20, 90, 90], 'side': 'left'}]}


def load_demo():
    spec = importlib.util.spec_from_file_location('image_demo', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_obj(path):
    with open(path) as f:
        lines = [line.split() for line in f if line[:2] in ('v ', 'f ')]
    verts = np.array([line[1:] for line in lines if line[0] == 'v'], np.float64)
    faces = np.array([line[1:] for line in lines if line[0] == 'f'], np.int64) - 1
    return verts, faces


@pytest.fixture
def folder(freihand_tiny, tmp_path):
    """a.jpg (whole image = one right hand) and b.png (two boxes, one left hand)."""
    imgs = tmp_path / 'imgs'
    imgs.mkdir()
    rgb = osp.join(freihand_tiny, 'evaluation', 'rgb')
    os.link(osp.join(rgb, '00000000.jpg'), imgs / 'a.jpg')
    cv2.imwrite(str(imgs / 'b.png'), cv2.imread(osp.join(rgb, '00000001.jpg')))
    (imgs / 'notes.txt').write_text('not an image')
    boxes = tmp_path / 'boxes.json'
    boxes.write_text(json.dumps(BOXES))
    return str(imgs), str(boxes)


def test_demo_writes_outputs_and_refuses_to_overwrite(tiny_ckpt, folder, tmp_path, capsys):
    cfg, ckpt = tiny_ckpt
    imgs, boxes = folder
    out = str(tmp_path / 'out')
    args = [cfg, ckpt, imgs, '--bboxes', boxes, '--out-dir', out]
    run = subprocess.run([sys.executable, SCRIPT, *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(os.listdir(out)) == sorted([
        'a_overlay.png', 'a_side.png', 'a_hand0.obj',
        'b_overlay.png', 'b_side.png', 'b_hand0.obj', 'b_hand1.obj'])
    image = cv2.imread(osp.join(imgs, 'b.png'))
    overlay = cv2.imread(osp.join(out, 'b_overlay.png'))
    assert overlay.shape == image.shape and (overlay != image).any(axis=2).mean() > 0.01
    assert cv2.imread(osp.join(out, 'b_side.png')).shape == image.shape

    # the .obj files hold the API's meshes for the same boxes and sides (left: mirrored
    # winding)
    model = init_mesh_model(cfg, ckpt)
    entries = BOXES['b.png']
    hands = inference_mesh_model(model, image, [entries[0], entries[1]['bbox']],
                                 ['right', 'left'])
    for i, hand in enumerate(hands):
        verts, faces = read_obj(osp.join(out, f'b_hand{i}.obj'))
        np.testing.assert_allclose(verts, hand['vertices'], atol=2e-6)
        np.testing.assert_array_equal(faces, hand['faces'])
    assert (hands[1]['faces'] == hands[0]['faces'][:, ::-1]).all()

    # a second run refuses (exit 2, one line) and leaves the files alone; --overwrite runs
    demo = load_demo()
    before = {f: os.path.getmtime(osp.join(out, f)) for f in os.listdir(out)}
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        demo.main(args)
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and 'would be overwritten' in err and '\n' not in err
    assert before == {f: os.path.getmtime(osp.join(out, f)) for f in os.listdir(out)}
    demo.main(args + ['--overwrite'])
    assert all(os.path.getmtime(osp.join(out, f)) >= t for f, t in before.items())


@pytest.mark.parametrize('extra, match', [
    (['--bbox', '1', '2', '3', '4', '5'], '4 numbers per box'),
    (['--bboxes', '{"a.jpg": [[1, 2, 3]]}'], r'a.jpg: bboxes must have shape \(N, 4\)'),
    (['--bboxes', '[{"side": "left"}]'], 'without "bbox"'),
    (['--bboxes', '{not json'], 'neither a file nor valid JSON'),
])
def test_demo_errors_are_one_line(tiny_ckpt, folder, tmp_path, capsys, extra, match):
    cfg, ckpt = tiny_ckpt
    with pytest.raises(SystemExit) as exc:
        load_demo().main([cfg, ckpt, folder[0], '--out-dir', str(tmp_path / 'o'), *extra])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and '\n' not in err, err
    assert re.search(match, err), err
