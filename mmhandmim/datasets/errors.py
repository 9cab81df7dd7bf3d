"""One clear error for a dataset root that does not match its expected layout."""
from ..utils.errors import UserInputError


class DatasetLayoutError(UserInputError, FileNotFoundError):
    """Raised when a dataset root is missing files or has inconsistent counts.

    A ``UserInputError`` (the tools report it on one line) and a ``FileNotFoundError``.
    """


def layout_error(dataset, root, problems, expected_tree):
    lines = '; '.join(problems)
    return DatasetLayoutError(
        f'{dataset} at {root!r} is not usable: {lines}. Expected layout: {expected_tree}. '
        'See README "Data preparation".')
