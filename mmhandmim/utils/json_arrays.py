"""Fast, exact reading of JSON files that hold rectangular nested lists of numbers.

``json.load`` + ``np.array`` needs ~8 s for one of FreiHAND's 200 MB vertex files on a 2-core
machine (millions of Python floats), ``np.fromstring`` ~5 s. Here the bracket/comma structure
is checked on the text with the numbers and whitespace deleted (``bytes.translate``, C
speed), then every bracket, comma and blank becomes a line break and pyarrow's multi-threaded
CSV reader parses the one-number lines (~1 s; its parser rounds correctly, giving the same
float64 values as ``json``). Both passes go over ~16 MB pieces of the (memory-mapped) file,
so no file-sized temporary is ever allocated. Anything unusual (NaN, ragged lists, syntax
errors, numbers separated only by blanks) makes ``parse_array_list`` return None, and the
caller falls back to ``json`` for an exact diagnosis. Known leniency: number spellings that
JSON forbids but a float parser reads the obvious way ('+1', '01', '1.') are accepted.
"""
import mmap
from typing import List, Optional, Union

import numpy as np
import pyarrow as pa
from pyarrow import csv as pa_csv

from .memory import empty_array

_NUMBER_AND_SPACE = b'0123456789.-+eE \t\n\r'
# every separator becomes a line break: one number per (non-empty) line
_ONE_NUMBER_PER_LINE = bytes.maketrans(b'[], \t\r', b'\n' * 6)
_CSV_OPTIONS = dict(
    read_options=pa_csv.ReadOptions(column_names=['v'], block_size=1 << 22),
    parse_options=pa_csv.ParseOptions(quote_char=False, double_quote=False,
                                      ignore_empty_lines=True),
    # no null spellings: 'null', 'NaN', '' must not become numbers silently
    convert_options=pa_csv.ConvertOptions(column_types={'v': pa.float64()}, null_values=[],
                                          strings_can_be_null=False))
_PIECE = 1 << 24  # bytes of text per CSV parse


def _pieces(raw, size):
    """Consecutive slices of ``raw`` (bytes or mmap), each cut just after a comma, so no
    number is split and skeletons / number lists of the pieces simply concatenate."""
    start, n = 0, len(raw)
    while start < n:
        end = raw.find(b',', start + size) + 1 if start + size < n else 0
        end = end if end > 0 else n
        yield raw[start:end]
        start = end


def _parse_numbers_into(raw, out):
    """Parse all numbers of the text into ``out`` (float64, as many as expected).

    Returns False if a token is not a number or the count differs. Piece by piece: the
    translated text and arrow's buffers stay ~16 MB and are reused, where whole-file buffers
    (GBs for HO3D) cost more in first-touch page faults than the parsing itself.
    """
    pos = 0
    for piece in _pieces(raw, _PIECE):
        try:  # (pieces are never empty; all-separator pieces give no rows)
            table = pa_csv.read_csv(pa.py_buffer(piece.translate(_ONE_NUMBER_PER_LINE)),
                                    **_CSV_OPTIONS)
        except pa.ArrowInvalid:
            return False
        for chunk in table.column(0).chunks:
            if chunk.null_count or pos + len(chunk) > out.size:
                return False
            out[pos:pos + len(chunk)] = chunk.to_numpy(zero_copy_only=True)
            pos += len(chunk)
    return pos == out.size


def _rect_skeleton(shape):
    """The skeleton (numbers and whitespace removed) of a nested list with this shape."""
    skel = b''
    for dim in reversed(shape):
        skel = b'[' + b','.join([skel] * dim) + b']' if dim else b'[]'
    return skel


def _infer_shape(skel):
    """Shape implied by the first element at every depth of a skeleton, or None."""
    depth = len(skel) - len(skel.lstrip(b'['))
    if depth == 0:
        return None
    shape = []
    for level in range(depth):
        closer = b']' * (depth - level)
        end = skel.find(closer, level)
        if end < 0:
            return None
        first = skel[level:end + len(closer)]
        inner = first[1:-1]
        if not inner:
            shape.append(0)
            break
        sep = b']' * (depth - level - 1) + b','
        shape.append(inner.count(sep) + 1)
    return tuple(shape)


def _split_top_level(skel):
    """Skeletons of the elements of a top-level list whose elements are nested lists."""
    if not (skel.startswith(b'[') and skel.endswith(b']')):
        return None
    body, parts = skel[1:-1], []
    while body:
        depth = len(body) - len(body.lstrip(b'['))
        if depth == 0:
            return None
        end = body.find(b']' * depth) + depth
        if end < depth:
            return None
        parts.append(body[:end])
        body = body[end:]
        if body:
            if not body.startswith(b','):
                return None
            body = body[1:]
    return parts


def parse_array_list(raw: Union[bytes, mmap.mmap], top_level_list: bool = True
                     ) -> Optional[Union[List[np.ndarray], np.ndarray]]:
    """Parse JSON text into float64 arrays without building Python objects.

    Args:
        raw (bytes or mmap.mmap): the file's bytes (or a read-only ``mmap`` of the file).
        top_level_list (bool): True when the text is a list of rectangular arrays
            (``pred.json``: ``[xyz_list, verts_list]``); False when the text is one
            rectangular array.

    Returns:
        List[np.ndarray] or np.ndarray, optional: list of float64 arrays (or a single array
        when ``top_level_list`` is False), or None when the text is not of that simple form
        (the caller then uses ``json``).
    """
    skel = b''.join(piece.translate(None, _NUMBER_AND_SPACE) for piece in _pieces(raw, _PIECE))
    parts = _split_top_level(skel) if top_level_list else [skel]
    if not parts:
        return None
    shapes = [_infer_shape(p) for p in parts]
    if any(s is None or p != _rect_skeleton(s) for s, p in zip(shapes, parts)):
        return None
    sizes = [int(np.prod(s)) for s in shapes]
    values = empty_array(sum(sizes))
    if not _parse_numbers_into(raw, values):
        return None
    arrays = [chunk.reshape(shape) for chunk, shape in
              zip(np.split(values, np.cumsum(sizes)[:-1]), shapes)]
    return arrays if top_level_list else arrays[0]
