"""User-facing errors: each carries one sentence that names the problem and what to do about it.

The CLI prints the message and exits with code 2; it never shows a traceback for these.
"""


class EigenError(Exception):
    """A problem the user can fix (bad input, missing data, no GPU); the message says how."""


class DataError(EigenError):
    """A dataset that cannot be found, read or used."""


class DeviceError(EigenError):
    """A requested device that does not exist or cannot be used."""
