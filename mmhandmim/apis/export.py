"""Write a triangle mesh as Wavefront .obj (vertices, 1-based faces), vectorised."""
import io

import numpy as np


def write_obj(path, vertices, faces, comment=None):
    """Write ``vertices`` (V, 3) and ``faces`` (F, 3, 0-based) to ``path``; faces keep their
    winding (counter-clockwise seen from outside = outward normals in .obj viewers)."""
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
