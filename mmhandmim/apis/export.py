"""Write a triangle mesh as Wavefront .obj (vertices, 1-based faces), vectorised."""
import io
import os
from typing import Any, Optional, Sequence, Union

import numpy as np


def write_obj(path: Union[str, os.PathLike], vertices: Union[np.ndarray, Sequence],
              faces: Union[np.ndarray, Sequence], comment: Optional[Any] = None) -> None:
    """Write a triangle mesh to a Wavefront .obj file.

    Faces keep their winding (counter-clockwise seen from outside = outward normals in .obj
    viewers).

    Args:
        path (str or os.PathLike): the .obj file.
        vertices (np.ndarray or Sequence): (V, 3) vertices, written with 6 decimals.
        faces (np.ndarray or Sequence): (F, 3) 0-based vertex ids (written 1-based).
        comment (Any, optional): written first, each of its lines as a ``#`` line.

    Raises:
        ValueError: the arrays are not (V, 3) and (F, 3).
    """
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f'need (V, 3) vertices and (F, 3) faces, got {vertices.shape} and '
                         f'{faces.shape}')
    buf = io.StringIO()
    if comment:
        buf.write(''.join(f'# {line}\n' for line in str(comment).splitlines()))
    np.savetxt(buf, vertices, fmt='v %.6f %.6f %.6f')
    np.savetxt(buf, faces.astype(np.int64) + 1, fmt='f %d %d %d')
    with open(path, 'w') as f:
        f.write(buf.getvalue())
