"""The one base of every error a user can fix (a path, a config value, a file's content).

The tools report these on one line and exit with ``exit_code`` (``utils.cli.user_errors``);
anything else is a bug and keeps its traceback. Subclasses also derive from the builtin error
callers would catch (``FileNotFoundError``, ``ValueError``, ...), so they stay catchable as
before.
"""


class UserInputError(Exception):
    """An error in what the user gave us; reported on one line.

    Attributes:
        exit_code: the tools' exit status for it (2: bad input; 1: the run itself failed).
    """

    exit_code = 2


class ConfigError(UserInputError, ValueError):
    """A config value that cannot work (unknown key, impossible combination); the message
    names the config key, the valid choices and the fix."""
