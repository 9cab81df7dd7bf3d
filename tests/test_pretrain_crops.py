"""tools/dataset_converters/make_pretrain_crops.py and mmhandmim.datasets.pretrain_sources on
tiny generated sources: COCO-WholeBody, FreiHAND layout, Youtube3DHands, an image list and
(generated) HO3D. Every hand is drawn as an asymmetric pattern (green band on top, red left
half, blue right half), so the crops show where the box went and whether left hands were
mirrored."""
import importlib.util
import json
import os
import os.path as osp
import runpy
import sys

import cv2
import numpy as np
import pytest

from mmhandmim.datasets.pretrain_sources import (PretrainSourceError, crop_square,
                                                 read_youtube3d, square_crop_windows)
from mmhandmim.utils.errors import UserInputError

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOL = osp.join(ROOT, 'tools', 'dataset_converters', 'make_pretrain_crops.py')
SIZE = 64
GRAY, GREEN, RED, BLUE = (90, 90, 90), (0, 255, 0), (0, 0, 255), (255, 0, 0)  # BGR


def _load_tool():
    spec = importlib.util.spec_from_file_location('make_pretrain_crops', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


tool = _load_tool()


def draw_hand(img, box):
    """Green top quarter, red left half, blue right half (clipped to the image)."""
    x0, y0, x1, y1 = (int(v) for v in box)
    h, w = img.shape[:2]
    top, mid = y0 + (y1 - y0) // 4, x0 + (x1 - x0) // 2

    def fill(a, b, c, d, colour):
        img[max(b, 0):min(d, h), max(a, 0):min(c, w)] = colour

    fill(x0, y0, x1, top, GREEN)
    fill(x0, top, mid, y1, RED)
    fill(mid, top, x1, y1, BLUE)
    return img


def canvas(w, h):
    return np.full((h, w, 3), GRAY, np.uint8)


def colour_at(crop, u, v):
    """Mean colour of a 3x3 patch at relative position (u, v) of the crop."""
    x, y = int(u * crop.shape[1]), int(v * crop.shape[0])
    return crop[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).mean(0)


def assert_hand(crop, left=False):
    """The pattern of a square box with padding 1.25 (box = central 80 % of the crop)."""
    near = lambda c, ref: np.abs(c - np.array(ref)).max() < 40  # noqa: E731 (JPEG)
    assert near(colour_at(crop, 0.5, 0.2), GREEN)
    assert near(colour_at(crop, 0.3, 0.7), BLUE if left else RED)
    assert near(colour_at(crop, 0.7, 0.7), RED if left else BLUE)


# --- the fake sources ----------------------------------------------------------------------
COCO_BOXES = dict(left=[20, 30, 60, 60], right=[120, 40, 64, 64], edge=[110, 50, 60, 60],
                  small=[200, 150, 12, 12])  # xywh; small: below the default --min-box 16
YT_BOXES = dict(right=[30, 30, 90, 90], left=[110, 100, 170, 160])  # xyxy
LIST_BOX = [40, 40, 100, 100]


def xyxy(b):
    return [b[0], b[1], b[0] + b[2], b[1] + b[3]]


@pytest.fixture(scope='module')
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp('sources')
    rng = np.random.default_rng(0)
    # COCO-WholeBody: two images, a left + right person, an invalid and a small box, a box
    # that leaves the image
    coco = root / 'coco'
    (coco / 'imgs' / 'a').mkdir(parents=True)
    img1 = canvas(240, 200)
    for k in ('left', 'right', 'small'):
        draw_hand(img1, xyxy(COCO_BOXES[k]))
    cv2.imwrite(str(coco / 'imgs' / 'a' / 'img1.png'), img1)
    cv2.imwrite(str(coco / 'imgs' / 'img2.png'), draw_hand(canvas(160, 160),
                                                           xyxy(COCO_BOXES['edge'])))
    junk = dict(keypoints=[0] * 51, face_box=[0, 0, 1, 1], face_kpts=[0] * 204,
                segmentation=[[0, 0, 1, 1, 2, 2]])
    ann = dict(images=[dict(id=1, file_name='a/img1.png', width=240, height=200),
                       dict(id=5, file_name='img2.png', width=160, height=160)],
               annotations=[
                   dict(image_id=1, lefthand_box=COCO_BOXES['left'], lefthand_valid=True,
                        righthand_box=COCO_BOXES['right'], righthand_valid=True, **junk),
                   dict(image_id=1, lefthand_box=[0, 0, 0, 0], lefthand_valid=False,
                        righthand_box=COCO_BOXES['small'], righthand_valid=True, **junk),
                   dict(image_id=5, lefthand_box=[5, 5, 40, 40], lefthand_valid=False,
                        righthand_box=COCO_BOXES['edge'], righthand_valid=True, **junk)])
    (coco / 'wholebody.json').write_text(json.dumps(ann))
    # FreiHAND layout: 2 frames x 4 renderings of 224 px, image k filled with 20 + 25 k
    rgb = root / 'freihand' / 'training' / 'rgb'
    rgb.mkdir(parents=True)
    for k in range(8):
        cv2.imwrite(str(rgb / f'{k:08d}.jpg'), np.full((224, 224, 3), 20 + 25 * k, np.uint8))
    # Youtube3DHands: vertices (pixels) spanning the boxes, one right and one left hand
    yt = root / 'youtube'
    (yt / 'frames').mkdir(parents=True)
    img = canvas(200, 200)
    anns = []
    for side, box in YT_BOXES.items():
        draw_hand(img, box)
        v = np.column_stack([rng.uniform(box[0], box[2], 778), rng.uniform(box[1], box[3], 778),
                             rng.uniform(-5, 5, 778)])
        v[:2, :2] = [box[:2], box[2:]]  # the extremes
        anns.append(dict(image_id=3, vertices=v.tolist(), is_left=int(side == 'left'),
                         faces=[[0, 1, 2]]))
    cv2.imwrite(str(yt / 'frames' / 'f1.png'), img)
    (yt / 'youtube_train.json').write_text(json.dumps(dict(
        images=[dict(id=3, name='frames/f1.png', width=200, height=200)], annotations=anns)))
    # an image list (e.g. from a detector): a left hand, a whole non-square image, a tiny box
    lst = root / 'mine'
    lst.mkdir()
    cv2.imwrite(str(lst / 'p1.png'), draw_hand(canvas(150, 140), LIST_BOX))
    cv2.imwrite(str(lst / 'p2.jpg'), np.full((80, 120, 3), 200, np.uint8))
    (lst / 'hands.txt').write_text(
        f'# from my detector\np1.png {" ".join(map(str, LIST_BOX))} l\n\np2.jpg\n'
        'p1.png 10 10 20 20 r\n')
    return root


def run(sources, out, *extra):
    s = sources
    return tool.main([
        '--out-dir', str(out), '--size', str(SIZE), '--no-progress',
        '--coco-wholebody', str(s / 'coco' / 'wholebody.json'), str(s / 'coco' / 'imgs'),
        '--freihand', str(s / 'freihand'), '--freihand-versions', 'gs', 'sample',
        '--youtube3d', str(s / 'youtube' / 'youtube_train.json'), str(s / 'youtube'),
        '--image-list', str(s / 'mine' / 'hands.txt'), *extra])


@pytest.fixture(scope='module')
def crops(sources, tmp_path_factory):
    out = tmp_path_factory.mktemp('crops') / 'out'
    summary = run(sources, out)
    return out, summary


def read_crop(out, i):
    return cv2.imread(str(out / 'images' / f'{i:08d}.jpg'))


# --- tests ---------------------------------------------------------------------------------
def test_counts_and_summary(crops, capsys):
    out, summary = crops
    assert summary['total'] == 11
    assert summary['counts'] == {'coco-wholebody': 3, 'freihand': 4, 'youtube3d': 2,
                                 'image-list': 2}
    rec = {r['kind']: r for r in summary['sources']}
    coco = rec['coco-wholebody']  # 3 persons x 2 hand slots: 2 invalid, 1 small, 3 written
    assert (coco['hands'], coco['dropped']['invalid flag'], coco['dropped']['too small'],
            coco['left_flipped']) == (6, 2, 1, 1)
    assert (rec['image-list']['hands'], rec['image-list']['dropped']['too small']) == (3, 1)
    assert rec['youtube3d']['left_flipped'] == 1 and rec['youtube3d']['rescaled'] == 0
    for r in summary['sources']:  # every hand is written or dropped for one reason
        assert r['hands'] == r['written'] + sum(r['dropped'].values()), r['kind']
    assert [(r['first_index'], r['end_index']) for r in summary['sources']] == [
        (0, 3), (3, 7), (7, 9), (9, 11)]
    on_disk = json.loads((out / 'sources.json').read_text())
    assert on_disk['counts'] == summary['counts'] and on_disk['settings']['size'] == SIZE
    assert sorted(os.listdir(out)) == ['images', 'list.txt', 'origins.tsv', 'sources.json']
    lines = (out / 'list.txt').read_text().splitlines()
    assert lines == [f'images/{i:08d}.jpg' for i in range(11)]
    origins = [ln.split('\t') for ln in (out / 'origins.tsv').read_text().splitlines()[1:]]
    assert [o[1] for o in origins] == ['coco-wholebody'] * 3 + ['freihand'] * 4 + [
        'youtube3d'] * 2 + ['image-list'] * 2
    assert [o[4] for o in origins[:3]] == ['l', 'r', 'r']
    table = tool.format_summary(summary['sources'], summary['total'])
    head, total = table.splitlines()[0].split(), table.splitlines()[-1].split()
    assert 'coco-wholebody (wholebody.json)' in table
    assert dict(zip(head[1:], total[1:]))['written'] == '11'
    assert dict(zip(head[1:], total[1:]))['small'] == '2'


def test_crop_content_and_left_hands_mirrored(crops, sources):
    out, _ = crops
    for i in range(11):
        assert read_crop(out, i).shape == (SIZE, SIZE, 3)
    assert_hand(read_crop(out, 0), left=True)       # COCO left hand, mirrored
    assert_hand(read_crop(out, 1), left=False)      # COCO right hand
    edge = read_crop(out, 2)                        # COCO box leaving the image: zeros there
    assert colour_at(edge, 0.95, 0.5).max() < 15 and colour_at(edge, 0.5, 0.2)[1] > 200
    for j, k in enumerate((0, 1, 4, 5)):            # FreiHAND renderings gs + sample, whole
        assert np.abs(read_crop(out, 3 + j).astype(int) - (20 + 25 * k)).max() <= 3
    assert_hand(read_crop(out, 7), left=False)      # Youtube3D right
    assert_hand(read_crop(out, 8), left=True)       # Youtube3D left, mirrored
    assert_hand(read_crop(out, 9), left=True)       # list 'l'
    whole = read_crop(out, 10)                      # 120 x 80 image padded to a square
    assert whole[:8].max() < 15 and whole[-8:].max() < 15
    assert np.abs(whole[16:48].astype(int) - 200).max() <= 4
    # exactly the crop LoadHandCrop makes at training time (then JPEG-encoded)
    from mmpretrain.registry import TRANSFORMS
    load = TRANSFORMS.build(dict(type='LoadHandCrop', padding=1.25, out_size=SIZE))
    for i, (name, side) in enumerate((('left', 'left'), ('right', 'right'))):
        ref = load(dict(img_path=str(sources / 'coco' / 'imgs' / 'a' / 'img1.png'),
                        bbox=xyxy(COCO_BOXES[name]), hand_side=side))['img']
        ref = cv2.imdecode(cv2.imencode('.jpg', ref, [cv2.IMWRITE_JPEG_QUALITY, 95])[1],
                           cv2.IMREAD_COLOR)
        assert np.array_equal(read_crop(out, i), ref)


def test_list_loads_with_unlabeled_hand_dataset(crops):
    from mmpretrain.registry import DATASETS
    out, _ = crops
    ds = DATASETS.build(dict(type='UnlabeledHandDataset', data_root=str(out),
                             ann_file='list.txt', data_prefix=dict(img_path=''),
                             pipeline=[dict(type='LoadHandCrop', out_size=SIZE)]))
    assert len(ds) == 11
    info = ds.get_data_info(0)
    assert info['bbox'] is None and info['hand_side'] is None  # already right-hand crops
    assert np.array_equal(ds[1]['img'], read_crop(out, 1))


def test_workers_give_identical_output(crops, sources, tmp_path):
    out, _ = crops
    run(sources, tmp_path / 'pooled', '--workers', '2')
    for name in ['list.txt', 'origins.tsv'] + [f'images/{i:08d}.jpg' for i in range(11)]:
        assert (tmp_path / 'pooled' / name).read_bytes() == (out / name).read_bytes(), name


def test_refuses_non_empty_out_dir_then_overwrites_own_files_only(sources, tmp_path):
    out = tmp_path / 'out'
    (out / 'images').mkdir(parents=True)
    (out / 'notes.txt').write_text('mine')
    (out / 'images' / '00000099.jpg').write_bytes(b'stale crop')
    with pytest.raises(UserInputError, match='not empty.*--overwrite'):
        run(sources, out)
    assert not (out / 'list.txt').exists()
    summary = run(sources, out, '--overwrite')
    assert summary['total'] == 11
    assert (out / 'notes.txt').read_text() == 'mine'
    assert sorted(os.listdir(out / 'images')) == [f'{i:08d}.jpg' for i in range(11)]


def test_missing_annotation_file_is_one_clear_line(tmp_path, capsys, monkeypatch):
    (tmp_path / 'imgs').mkdir()
    missing = tmp_path / 'coco_wholebody_train_v1.0.json'
    monkeypatch.setattr(sys, 'argv', [TOOL, '--out-dir', str(tmp_path / 'out'),
                                      '--coco-wholebody', str(missing), str(tmp_path / 'imgs')])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(TOOL, run_name='__main__')
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'error:' in err
    assert f"annotation file '{missing}' does not exist" in err
    assert 'lefthand_box' in err  # says what was expected
    assert not (tmp_path / 'out').exists()


def test_other_source_errors(tmp_path, sources):
    with pytest.raises(PretrainSourceError, match=r'training image folder .*training/rgb'):
        tool.main(['--out-dir', str(tmp_path / 'o1'), '--freihand', str(tmp_path)])
    (tmp_path / 'l.txt').write_text('nowhere/a.png 0 0 50 50\nnowhere/b.png\n')
    with pytest.raises(PretrainSourceError, match='none of its 2 images exist'):
        tool.main(['--out-dir', str(tmp_path / 'o2'), '--image-list', str(tmp_path / 'l.txt')])
    (tmp_path / 'bad.txt').write_text('a.png 1 2 3\n')
    with pytest.raises(ValueError, match='1 bad lines.*line 1'):
        tool.main(['--out-dir', str(tmp_path / 'o3'), '--image-list', str(tmp_path / 'bad.txt')])
    with pytest.raises(SystemExit):  # argparse: no source at all
        tool.parse_args(['--out-dir', str(tmp_path / 'o4')])


def test_unreadable_image_is_reported_and_skipped(tmp_path, sources):
    cv2.imwrite(str(tmp_path / 'ok.png'), draw_hand(canvas(100, 100), [20, 20, 80, 80]))
    (tmp_path / 'broken.png').write_bytes(b'not a png')
    (tmp_path / 'l.txt').write_text('broken.png 0 0 60 60\nok.png 20 20 80 80 r\n'
                                    'gone.png 0 0 60 60\n')
    summary = tool.main(['--out-dir', str(tmp_path / 'out'), '--size', str(SIZE),
                         '--no-progress', '--image-list', str(tmp_path / 'l.txt')])
    (rec, ) = summary['sources']
    assert (rec['hands'], rec['dropped']['missing image'], rec['dropped']['unreadable image'],
            rec['written']) == (3, 1, 1, 1)
    assert summary['failed'][0]['image'].endswith('broken.png')
    assert summary['failed'][0]['reason'] == 'unreadable image'
    assert rec['examples']['unreadable image'].startswith(str(tmp_path / 'broken.png'))
    assert rec['missing'][0].endswith('gone.png')
    # numbering is fixed before cropping: the failed crop leaves a gap
    assert (tmp_path / 'out' / 'list.txt').read_text() == 'images/00000001.jpg\n'
    assert_hand(cv2.imread(str(tmp_path / 'out' / 'images' / '00000001.jpg')))


def test_crop_rule_matches_load_hand_crop():
    from mmhandmim.datasets.unlabeled_hands import LoadHandCrop
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (50, 70, 3), dtype=np.uint8)
    boxes = np.array([[10, 5, 30, 45], [-10, -3, 20, 12.5], [60, 40, 95, 60], [3.5, 4, 9, 5]])
    windows = square_crop_windows(boxes, 1.3)
    ref = LoadHandCrop(padding=1.3)
    for box, (x0, y0, side) in zip(boxes, windows):
        expected = ref._crop(img, box)
        assert np.array_equal(crop_square(img, x0, y0, side), expected)
        assert np.array_equal(crop_square(img, x0, y0, side, flip=True), expected[:, ::-1])


def test_youtube_reader_boxes(sources):
    hb = read_youtube3d(str(sources / 'youtube' / 'youtube_train.json'),
                        str(sources / 'youtube'))
    np.testing.assert_allclose(hb.boxes, [YT_BOXES['right'], YT_BOXES['left']])
    assert hb.left.tolist() == [False, True]
    assert hb.img_paths[0] == osp.join(str(sources / 'youtube'), 'frames/f1.png')


def test_ho3d_source(tmp_path):
    """Boxes are HO3DMeshDataset's projected-joint boxes; the crops hold the hand."""
    from mmhandmim.standin.generation import StandinHands, generate_ho3d
    from mmhandmim.datasets.ho3d import HO3DMeshDataset
    root = tmp_path / 'ho3d'
    generate_ho3d(str(root), num_train=2, num_eval=1, num_seqs=1, seed=1, progress=False,
                  hands=StandinHands())
    summary = tool.main(['--out-dir', str(tmp_path / 'out'), '--size', str(SIZE),
                         '--no-progress', '--ho3d', str(root)])
    (rec, ) = summary['sources']
    assert rec['inputs']['version'] == 'v2' and rec['written'] == 2
    ds = HO3DMeshDataset(data_root=str(root), split='train', version='v2')
    origins = (tmp_path / 'out' / 'origins.tsv').read_text().splitlines()[1:]
    for i, line in enumerate(origins):
        info = ds.get_data_info(i)
        box = [float(v) for v in line.split('\t')[3].split()]
        np.testing.assert_allclose(box, info['bbox'][0], atol=0.06)
        kpts = info['keypoints'][0]
        assert (kpts.min(0) >= np.array(box[:2]) - 0.06).all()
        assert (kpts.max(0) <= np.array(box[2:]) + 0.06).all()
        crop = read_crop(tmp_path / 'out', i)
        # the hand (skin) covers the centre region, the padded border is mostly background
        assert crop.shape == (SIZE, SIZE, 3) and crop.std() > 10
