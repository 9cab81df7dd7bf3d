"""The hand list format: one hand per line, ``path [x0 y0 x1 y1] [l|r]``.

Read by ``UnlabeledHandDataset`` (``ann_file='*.txt'``) and by
``tools/dataset_converters/make_pretrain_crops.py --image-list``; written by the stand-in
generator and by hand detectors. Rules:

* fields are separated by white space; ``#`` comments and blank lines are skipped;
* the box is four finite numbers, pixels, ``x1 > x0`` and ``y1 > y0`` (it may leave the image:
  the crop is zero-padded there); no box = the whole image;
* the side is ``l`` (a left hand, mirrored to a right hand when cropped) or ``r``; none = as is;
* **a path with spaces is written in double quotes** (``"my dir/a b.jpg" 1 2 30 40 l``). An
  unquoted path is the first field. Taking "everything but the trailing numbers" as the path
  would turn a typo (``a.png 1 2 3``: a box with a missing number) into the path of a file
  that does not exist, so the quotes are required and a line with extra fields says why.
"""
import math
from typing import List, Optional, Sequence, Tuple

from .annotation_checks import AnnotationError

#: the format, as every message about a list line states it
LIST_FORMAT = ('expected "path [x0 y0 x1 y1] [l|r]" (a path with spaces in double quotes: '
               '"my dir/a.jpg" 10 20 90 110 l)')
MAX_REPORTED = 5  # bad lines quoted in the one-line error

Entry = Tuple[int, str, Optional[List[float]], Optional[str]]


class HandListError(AnnotationError):
    """A hand list file with bad lines (one line naming the file, the lines and why)."""


def _number(text: str) -> Optional[float]:
    try:
        return float(text)
    except ValueError:
        return None


def _split(line: str) -> Tuple[str, List[str]]:
    """(path, the other fields) of a stripped, non-empty line."""
    if not line.startswith('"'):
        path, *fields = line.split()
        return path, fields
    end = line.find('"', 1)
    if end < 0:
        raise ValueError('the opening " of the path has no closing "')
    rest = line[end + 1:]
    if rest and not rest[0].isspace():
        raise ValueError('the quoted path must be followed by a space')
    if end == 1:
        raise ValueError('the quoted path is empty')
    return line[1:end], rest.split()


def _why_not_a_box(fields: Sequence[str]) -> str:
    """The reason ``fields`` (the non-side fields after the path) are not ``x0 y0 x1 y1``."""
    words = [f for f in fields if _number(f) is None]
    if len(fields) == 5 and words == [fields[-1]]:
        return f'the side {fields[-1]!r} is neither l nor r'
    if words:
        return (f'{words[0]!r} is not a number: a path with spaces must be in double quotes, '
                'and the box is 4 numbers')
    return f'the box has {len(fields)} numbers, not 4'


def parse_list_line(line: str) -> Tuple[str, Optional[List[float]], Optional[str]]:
    """``path [x0 y0 x1 y1] [l|r]`` -> (path, box or None, 'left'/'right' or None).

    Raises:
        ValueError: the reason the line is not in the format (without the line itself).
    """
    path, fields = _split(line.strip())
    side = None
    if fields and fields[-1].lower() in ('l', 'r'):
        side = 'left' if fields.pop().lower() == 'l' else 'right'
    if not fields:
        return path, None, side
    if len(fields) != 4 or any(_number(f) is None for f in fields):
        raise ValueError(_why_not_a_box(fields))
    box = [float(f) for f in fields]
    if not all(math.isfinite(v) for v in box):
        raise ValueError(f'the box {box} is not finite (NaN or inf)')
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f'the box {box} has zero or negative size (needs x1 > x0, y1 > y0)')
    return path, box, side


#: a list whose boxes all stay within this many pixels holds normalised (0-1) coordinates
NORMALISED_MAX = 1.5


def read_hand_list(list_file: str) -> Tuple[List[Entry], List[str]]:
    """All entries of a hand list file and its bad lines.

    Returns:
        ``([(line number, path, box or None, side or None)], [bad line descriptions])``.

    Raises:
        HandListError: the file is not text.
    """
    entries, bad = [], []
    try:
        with open(list_file, encoding='utf-8') as f:
            lines = f.readlines()
    except UnicodeDecodeError as exc:
        raise HandListError(f'hand list {list_file} is not a UTF-8 text file ({exc.reason} at '
                            f'byte {exc.start}); {LIST_FORMAT}') from None
    for num, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        try:
            entries.append((num, *parse_list_line(line)))
        except ValueError as exc:
            bad.append(f'line {num} {line.strip()!r}: {exc}')
    boxes = [e[2] for e in entries if e[2] is not None]
    if boxes and max(max(b) for b in boxes) <= NORMALISED_MAX:
        raise HandListError(
            f'hand list {list_file}: all {len(boxes)} boxes have every coordinate <= '
            f'{NORMALISED_MAX} (e.g. line {entries[0][0]}: {boxes[0]}): they look normalised; '
            'boxes are pixels x0 y0 x1 y1 of the image: multiply x by its width and y by its '
            'height')
    return entries, bad


def bad_lines_error(list_file: str, bad: Sequence[str], prefix: str = '') -> HandListError:
    """The one-line error for the bad lines of a list file (the first few quoted)."""
    shown = '; '.join(bad[:MAX_REPORTED]) + ('; ...' if len(bad) > MAX_REPORTED else '')
    return HandListError(f'{prefix}{len(bad)} bad lines in {list_file}: {shown}. '
                         f'Each line: {LIST_FORMAT}; fix or delete those lines')


def format_list_line(path: str, box: Optional[Sequence[float]] = None,
                     side: Optional[str] = None) -> str:
    """One list line (no newline), quoting a path with white space.

    Raises:
        ValueError: the path holds a double quote or a line break (not representable).
    """
    if '"' in path or '\n' in path or '\r' in path:
        raise ValueError(f'path {path!r} holds a double quote or a line break, which the '
                         'hand list format cannot hold: rename the file')
    parts = [f'"{path}"' if any(c.isspace() for c in path) or path.startswith('#') else path]
    if box is not None:
        parts += [f'{float(v):.1f}' for v in box]
    if side is not None:
        parts.append({'left': 'l', 'right': 'r'}.get(side, side))
    return ' '.join(parts)


__all__ = ['HandListError', 'LIST_FORMAT', 'bad_lines_error', 'format_list_line',
           'parse_list_line', 'read_hand_list']
