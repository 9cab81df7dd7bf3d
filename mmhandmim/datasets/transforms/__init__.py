from .multiview import HandMultiView  # noqa: F401
