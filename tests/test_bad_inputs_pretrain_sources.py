"""Pre-training sources and crop lists as they really are (issue 17, part C).

Files written by hand in the official formats (Youtube3DHands ``youtube_*.json`` with
``images[].width/height`` and 778 x 3 vertices; COCO-WholeBody with ``*hand_box`` xywh and
``*hand_valid``) and tiny generated images: frames saved at another size than annotated,
frames of another aspect ratio, boxes outside their image, NaN boxes, paths with spaces,
malformed list lines, a stored-crop size that does not match ``image_size``. Every refusal is
one line (exit 2 from the tool), every skip is counted per reason.
"""
import json
import logging
import runpy
import sys

import cv2
import numpy as np
import pytest

from mmhandmim.datasets.hand_lists import format_list_line, parse_list_line
from mmhandmim.datasets.pretrain_sources import (DEFAULT_MIN_BOX, read_coco_wholebody,
                                                 read_youtube3d)
from mmhandmim.utils.errors import UserInputError
from tests.test_pretrain_crops import TOOL, assert_hand, canvas, draw_hand, tool

SIZE = 64


def crops_of(out):
    names = (out / 'list.txt').read_text().split()
    return [cv2.imread(str(out / n)) for n in names]


def make(out, *argv):
    return tool.main(['--out-dir', str(out), '--size', str(SIZE), '--no-progress', *argv])


def rec_of(summary):
    (rec, ) = summary['sources']
    assert rec['hands'] == rec['written'] + sum(rec['dropped'].values())
    return rec


def cli_error(monkeypatch, capsys, *argv):
    """Run the tool as a script: (exit code, the stderr lines)."""
    monkeypatch.setattr(sys, 'argv', [TOOL, *argv])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(TOOL, run_name='__main__')
    return exc.value.code, capsys.readouterr().err.strip().splitlines()


# --- Youtube3DHands: vertices in pixels of images[].width x height -------------------------
ANNOTATED = (200, 100)  # width, height the vertices are given in
YT_BOX = (40., 20., 100., 80.)  # x0 y0 x1 y1 in annotated pixels


def youtube(root, frames):
    """``frames``: {name: (saved width, saved height)}; one right hand per frame, drawn at
    the box scaled to the saved size; vertices span YT_BOX in annotated pixels."""
    rng = np.random.default_rng(0)
    (root / 'frames').mkdir(parents=True)
    images, anns = [], []
    for k, (name, (w, h)) in enumerate(frames.items()):
        sx, sy = w / ANNOTATED[0], h / ANNOTATED[1]
        x0, y0, x1, y1 = YT_BOX
        cv2.imwrite(str(root / 'frames' / name),
                    draw_hand(canvas(w, h), [x0 * sx, y0 * sy, x1 * sx, y1 * sy]))
        v = np.column_stack([rng.uniform(x0, x1, 778), rng.uniform(y0, y1, 778),
                             rng.uniform(-1, 1, 778)])
        v[:2, :2] = [(x0, y0), (x1, y1)]
        images.append(dict(id=k, name=f'frames/{name}', width=ANNOTATED[0],
                           height=ANNOTATED[1]))
        anns.append(dict(id=k, image_id=k, vertices=v.tolist(), is_left=0))
    path = root / 'youtube_train.json'
    path.write_text(json.dumps(dict(images=images, annotations=anns)))
    return path


def test_youtube_frames_of_another_size_are_rescaled_not_black(tmp_path):
    ann = youtube(tmp_path / 'yt', {'same.png': (200, 100), 'double.png': (400, 200),
                                    'half.png': (100, 50), 'square.png': (200, 200)})
    hb = read_youtube3d(str(ann), str(tmp_path / 'yt'))
    assert hb.rescaled == 2 and hb.dropped == {'aspect mismatch': 1}
    assert 'square.png is 200 x 200, annotated 200 x 100' in hb.examples['aspect mismatch']
    np.testing.assert_allclose(hb.boxes, [YT_BOX, np.multiply(YT_BOX, 2),
                                          np.multiply(YT_BOX, 0.5)])
    summary = make(tmp_path / 'out', '--youtube3d', str(ann), str(tmp_path / 'yt'),
                   '--min-box', '0')
    rec = rec_of(summary)
    assert (rec['written'], rec['rescaled'], rec['dropped']['aspect mismatch']) == (3, 2, 1)
    for crop in crops_of(tmp_path / 'out'):  # the 2x frame was an all-black crop before
        assert_hand(crop)
    table = tool.format_summary(summary['sources'], summary['total']).splitlines()
    assert dict(zip(table[0].split()[1:], table[-1].split()[1:]))['aspect'] == '1'


def test_youtube_box_outside_frame_and_missing_frame_are_counted(tmp_path):
    ann = youtube(tmp_path / 'yt', {'a.png': (200, 100), 'b.png': (200, 100)})
    data = json.loads(ann.read_text())
    data['annotations'][0]['vertices'] = (np.array(data['annotations'][0]['vertices'])
                                          + [500, 0, 0]).tolist()  # right of the image
    data['images'].append(dict(id=9, name='frames/gone.png', width=200, height=100))
    data['annotations'].append(dict(data['annotations'][1], id=9, image_id=9))
    ann.write_text(json.dumps(data))
    rec = rec_of(make(tmp_path / 'out', '--youtube3d', str(ann), str(tmp_path / 'yt')))
    assert (rec['hands'], rec['written']) == (3, 1)
    assert rec['dropped']['outside image'] == 1 and rec['dropped']['missing image'] == 1
    assert 'a.png box [540.0' in rec['examples']['outside image']


@pytest.mark.parametrize('breakage, message', [
    (lambda d: d['images'][0].pop('width'), r'no positive width/height'),
    (lambda d: d['annotations'][0]['vertices'][5].__setitem__(0, float('nan')),
     r'annotations\[0\]: vertices are not finite'),
    (lambda d: d['annotations'][0]['vertices'].pop(), r'not 778 x 3 numbers \(shape \(777, 3\)'),
])
def test_youtube_unusable_annotations_are_refused(tmp_path, breakage, message):
    ann = youtube(tmp_path / 'yt', {'a.png': (200, 100)})
    data = json.loads(ann.read_text())
    breakage(data)
    ann.write_text(json.dumps(data))  # NaN as JSON's NaN literal, which json.load reads
    with pytest.raises(UserInputError, match=message) as err:
        read_youtube3d(str(ann), str(tmp_path / 'yt'))
    assert '\n' not in str(err.value) and 'youtube_train.json' in str(err.value)


# --- COCO-WholeBody -------------------------------------------------------------------------
def coco(root, hands, width=120, height=90):
    """One person per (left box, right box); None = invalid (all zeros, flag false)."""
    root.mkdir(parents=True, exist_ok=True)
    img = canvas(width, height)
    anns = []
    for k, (lbox, rbox) in enumerate(hands):
        ann = dict(id=k, image_id=1, keypoints=[0] * 51, lefthand_kpts=[0.] * 63,
                   righthand_kpts=[0.] * 63)
        for side, box in (('left', lbox), ('right', rbox)):
            ann[f'{side}hand_box'] = box or [0., 0., 0., 0.]
            ann[f'{side}hand_valid'] = box is not None
            if box is not None and all(np.isfinite(box)):
                draw_hand(img, [box[0], box[1], box[0] + box[2], box[1] + box[3]])
        anns.append(ann)
    cv2.imwrite(str(root / 'x.jpg'), img)
    path = root / 'coco_wholebody_train_v1.0.json'
    path.write_text(json.dumps(dict(images=[dict(id=1, file_name='x.jpg', width=width,
                                                 height=height)], annotations=anns)))
    return path


def test_coco_wholebody_default_min_box_keeps_17px_hands_and_counts_reasons(tmp_path):
    # hands as small as the official example file's (median shorter side 17 px)
    ann = coco(tmp_path / 'c', [([5, 5, 17, 19], [30, 5, 12, 14]),   # kept / too small
                                (None, [60, 40, 18.5, 17.2]),        # invalid / kept
                                ([200, 10, 20, 20], [80, 10, 0, 0])])  # outside / empty
    assert DEFAULT_MIN_BOX == 16
    summary = make(tmp_path / 'out', '--coco-wholebody', str(ann), str(tmp_path / 'c'))
    rec = rec_of(summary)
    assert rec['hands'] == 6 and rec['written'] == 2
    assert {k: v for k, v in rec['dropped'].items() if v} == {
        'invalid flag': 1, 'too small': 1, 'outside image': 1, 'empty box': 1}
    assert 'x.jpg box [200.0, 10.0, 220.0, 30.0]' in rec['examples']['outside image']
    # the same json through UnlabeledHandDataset: the same rule, the same two hands
    from mmpretrain.registry import DATASETS
    ds = DATASETS.build(dict(type='UnlabeledHandDataset', ann_file=str(ann),
                             data_prefix=dict(img_path=str(tmp_path / 'c'))))
    assert [ds.get_data_info(i)['bbox'] for i in range(len(ds))] == [
        [5., 5., 22., 24.], [60., 40., 78.5, 57.2]]
    hb = read_coco_wholebody(str(ann), str(tmp_path / 'c'))
    assert hb.hands == 6 and len(hb) == 3  # the reader drops invalid, empty, outside only


def test_coco_wholebody_valid_nan_box_is_refused(tmp_path):
    ann = coco(tmp_path / 'c', [([5, 5, float('nan'), 20], None)])
    with pytest.raises(UserInputError, match=r'annotations\[0\] .*lefthand_valid true but '
                                             r'lefthand_box .*not 4 finite numbers'):
        read_coco_wholebody(str(ann), str(tmp_path / 'c'))


# --- hand lists ------------------------------------------------------------------------------
@pytest.mark.parametrize('line, reason', [
    ('a.png nan 2 30 40', r'not finite \(NaN or inf\)'),
    ('a.png 10 10 5 40 r', r'zero or negative size'),
    ('a.png 10 10 10 40', r'zero or negative size'),
    ('a.png 1 2 3', r'the box has 3 numbers, not 4'),
    ('a.png 1 2 3 4 5 6', r'the box has 6 numbers, not 4'),
    ('a.png 1 2 3 4 x', r"the side 'x' is neither l nor r"),
    ('my hand.png 1 2 30 40', r"'hand.png' is not a number: a path with spaces must be in "
                              r'double quotes'),
    ('"my hand.png 1 2 30 40', r'opening " of the path has no closing "'),
])
def test_bad_list_lines_say_why(line, reason):
    with pytest.raises(ValueError, match=reason):
        parse_list_line(line)


def test_list_line_format_round_trip():
    for path, box, side in [('a b/c d.png', [1.5, 2, 30, 40], 'left'), ('#x.png', None, None),
                            ('plain.jpg', [0, 0, 9, 9], 'right'), ('tab\there.png', None, 'left')]:
        got = parse_list_line(format_list_line(path, box, side))
        assert got == (path, None if box is None else [float(v) for v in box], side)
    with pytest.raises(ValueError, match='double quote'):
        format_list_line('a"b.png')


def hand_list(root, lines, w=100, h=80):
    """``root/imgs/my hands/p 1.png`` (a hand at [20, 20, 80, 70]) and a list file."""
    folder = root / 'imgs' / 'my hands'
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / 'p 1.png'), draw_hand(canvas(w, h), [20, 20, 80, 70]))
    lst = root / 'hands.txt'
    lst.write_text(''.join(ln + '\n' for ln in lines))
    return lst


def test_list_paths_with_spaces_and_boxes_outside(tmp_path):
    lst = hand_list(tmp_path, ['"my hands/p 1.png" 20 20 80 70 l',   # quoted: read
                               '"my hands/p 1.png" 300 20 380 70',    # entirely outside
                               '"my hands/p 1.png" -30 20 30 70 r'])  # partly: padded
    summary = make(tmp_path / 'out', '--image-list', str(lst), str(tmp_path / 'imgs'))
    rec = rec_of(summary)
    assert (rec['written'], rec['dropped']['outside image']) == (2, 1)
    assert 'lies outside the 100 x 80 image' in rec['examples']['outside image']
    assert [f['reason'] for f in summary['failed']] == ['outside image']
    mirrored, padded = crops_of(tmp_path / 'out')
    assert_hand(mirrored, left=True)
    assert padded[:, :SIZE // 4].max() < 15 and padded[:, SIZE // 2:].max() > 200


def test_nan_box_in_list_exits_2_naming_file_and_line(tmp_path, monkeypatch, capsys):
    lst = hand_list(tmp_path, ['# detector output', '"my hands/p 1.png" 20 20 80 70',
                               '"my hands/p 1.png" 20 nan 80 70 r'])
    code, err = cli_error(monkeypatch, capsys, '--out-dir', str(tmp_path / 'out'),
                          '--image-list', str(lst), str(tmp_path / 'imgs'))
    assert code == 2 and len(err) == 1
    assert f'1 bad lines in {lst}: line 3' in err[0] and 'not finite' in err[0]
    assert not (tmp_path / 'out').exists()


def test_normalised_boxes_are_refused_by_the_tool_and_the_dataset(tmp_path, monkeypatch,
                                                                   capsys):
    lines = ['"my hands/p 1.png" 0.2 0.25 0.8 0.875 l', '"my hands/p 1.png" 0.1 0.1 0.5 0.6']
    lst = hand_list(tmp_path, lines)
    code, err = cli_error(monkeypatch, capsys, '--out-dir', str(tmp_path / 'out'),
                          '--image-list', str(lst), str(tmp_path / 'imgs'))
    assert code == 2 and len(err) == 1 and 'look normalised' in err[0] and str(lst) in err[0]
    assert not (tmp_path / 'out').exists()
    with pytest.raises(UserInputError, match=r'all 2 boxes .* look normalised.*multiply x by'):
        unlabeled(lst, tmp_path)
    # one box in pixels: the list is in pixels (tiny boxes are dropped by --min-box)
    lst.write_text(lines[0] + '\n"my hands/p 1.png" 20 20 80 70\n')
    assert len(unlabeled(lst, tmp_path, min_box_size=0)) == 2


def unlabeled(lst, root, **kw):
    from mmpretrain.registry import DATASETS
    return DATASETS.build(dict(type='UnlabeledHandDataset', ann_file=str(lst),
                               data_prefix=dict(img_path=str(root / 'imgs')),
                               pipeline=[dict(type='LoadHandCrop', out_size=SIZE)], **kw))


def test_dataset_list_nan_and_spaces(tmp_path):
    lst = hand_list(tmp_path, ['"my hands/p 1.png" 20 20 80 70 l', 'my hands/p 1.png'])
    with pytest.raises(UserInputError, match=r"1 bad lines in .*hands\.txt: line 2 .*double "
                                             'quotes') as err:
        unlabeled(lst, tmp_path)
    assert isinstance(err.value, ValueError) and '\n' not in str(err.value)
    lst.write_text('"my hands/p 1.png" 20 20 80 70 l\n"my hands/p 1.png" nan 1 2 3\n')
    with pytest.raises(UserInputError, match=r'line 2 .*not finite'):
        unlabeled(lst, tmp_path)
    lst.write_text('"my hands/p 1.png" 20 20 80 70 l\n')
    assert_hand(unlabeled(lst, tmp_path)[0]['img'], left=True)


def test_dataset_box_outside_image_is_named_or_counted(tmp_path):
    from mmhandmim.datasets.unlabeled_hands import BoxOutsideImageError
    lst = hand_list(tmp_path, ['"my hands/p 1.png" 20 20 80 70', '"my hands/p 1.png" 200 '
                               '200 260 260'])
    with pytest.raises(BoxOutsideImageError, match=r'entirely outside the 100 x 80 image.*'
                                                   r'another image size'):
        unlabeled(lst, tmp_path)[1]
    ds = unlabeled(lst, tmp_path, skip_bad_images=True)
    assert_hand(ds[1]['img'])  # replaced by the next sample, counted
    assert ds.num_bad_images == 1 and ds.bad_image_paths == {ds.get_data_info(1)['img_path']}


def test_dataset_image_size_is_checked_at_load(tmp_path):
    from mmengine.logging import MMLogger
    lst = hand_list(tmp_path, ['"my hands/p 1.png" 20 20 80 70', '"my hands/p 1.png" 150 '
                               '20 190 60'])
    with pytest.raises(UserInputError, match=r'image_size=\(200, 160\) but the first image '
                                             r'.*p 1\.png is 100 x 80 px .*set '
                                             r'image_size=100') as err:
        unlabeled(lst, tmp_path, image_size=(200, 160))
    assert '\n' not in str(err.value)
    records = []
    handler = logging.Handler()
    handler.emit = lambda r: records.append(r.getMessage())
    logger = MMLogger.get_current_instance()
    logger.addHandler(handler)
    try:
        ds = unlabeled(lst, tmp_path, image_size=(100, 80))
    finally:
        logger.removeHandler(handler)
    assert len(ds) == 1  # the box right of the 100 px image is dropped at load, counted
    assert any('dropped 1 of 2 samples' in m and 'line 2 of' in m for m in records), records


# --- the output folder -----------------------------------------------------------------------
def test_sources_inside_out_dir_are_never_overwritten(tmp_path):
    out = tmp_path / 'out'
    (out / 'images').mkdir(parents=True)
    cv2.imwrite(str(out / 'images' / '00000000.jpg'), draw_hand(canvas(90, 90),
                                                                [10, 10, 70, 70]))
    before = (out / 'images' / '00000000.jpg').read_bytes()
    (tmp_path / 'l.txt').write_text('00000000.jpg 10 10 70 70\n')
    with pytest.raises(UserInputError, match='lies in the output folder'):
        make(out, '--overwrite', '--image-list', str(tmp_path / 'l.txt'), str(out / 'images'))
    assert (out / 'images' / '00000000.jpg').read_bytes() == before
