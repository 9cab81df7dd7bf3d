"""Camera frame conventions (numpy only, so the light evaluator can use them without torch)."""
import numpy as np

#: OpenGL camera (y up, hand at -z) <-> OpenCV camera (y down, +z forward); its own inverse
GL_TO_CV = np.diag([1.0, -1.0, -1.0])
CV_TO_GL = GL_TO_CV
