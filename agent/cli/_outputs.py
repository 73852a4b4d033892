"""The commands' output files, checked before any work.

``check_output_file`` stops a command before it reads or computes anything when a path it
would write at its end cannot be written (a directory, a folder that does not exist, no
permission), in words a person can act on rather than an ``[Errno 21]``.
"""

from __future__ import annotations

import os
from pathlib import Path

from agent.errors import InputError

__all__ = ["check_output_file"]


def check_output_file(
    path: Path, flag: str, example: str, *, replaced: bool = False, devices: bool = False
) -> None:
    """Stop before any work if ``path`` (given to ``flag``) could not be written.

    ``example`` is a file name suggested when ``path`` is a directory. ``replaced``: the
    file is written as a new file beside it, renamed over it, so its folder must be
    writable even when the file exists. ``devices``: an existing non-regular file
    (``/dev/null``, ``/dev/stdout``, a pipe) is a fine place to write.
    """
    if path.is_dir():
        raise InputError(f"{flag} {path}: is a directory; give a file such as {path / example}")
    parent = path.parent
    if not parent.exists():
        raise InputError(f"{flag} {path}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise InputError(f"{flag} {path}: {parent} is not a folder")
    if path.exists():
        if not path.is_file():
            if devices:
                return
            raise InputError(f"{flag} {path}: is not a regular file")
        if not os.access(path, os.R_OK | os.W_OK):
            raise InputError(f"{flag} {path}: no permission to write this file")
    if (replaced or not path.exists()) and not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: no permission to create a file in {parent}")
