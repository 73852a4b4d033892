"""The commands' output files: checked before any work, and written whole or not at all.

``check_output_file`` stops a command before it reads or computes anything when a path it
would write at its end cannot be written (a directory, a folder that does not exist, no
permission), in words a person can act on rather than an ``[Errno 21]``.
``write_atomically`` writes a file that must never be left half-written (the detector
state ``detect --state`` carries from one run to the next): a temporary file in the same
folder, flushed and synced to disk, then renamed over the old one, so that a crash or a
full disk leaves the old file or the new one, never a truncated mix.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import sys
from pathlib import Path

from agent.errors import InputError

__all__ = ["check_output_file", "write_atomically", "write_output"]


def check_output_file(
    path: Path, flag: str, example: str, *, replaced: bool = False, devices: bool = False
) -> None:
    """Stop before any work if ``path`` (given to ``flag``) could not be written.

    ``example`` is a file name suggested when ``path`` is a directory. ``replaced``: the
    file is written by ``write_atomically``, as a new file beside it, renamed over it, so
    its folder must be writable even when the file exists. ``devices``: an existing
    non-regular file (``/dev/null``, ``/dev/stdout``, a pipe) is a fine place to write.
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


def write_output(path: Path | None, text: str) -> None:
    """Write a command's result to ``path``, or to standard output when there is none.

    A file that cannot be written is an ``InputError`` naming it and the system's words.
    """
    if path is None:
        sys.stdout.write(text)
        return
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from exc


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path``'s content with ``text`` (UTF-8) so that it is never half-written.

    The text goes to a temporary file in the same folder (a rename is atomic only within
    one file system), which is flushed and synced, given the old file's permissions, and
    renamed over ``path``; the folder is then synced so the rename itself survives a power
    loss. A symbolic link is followed: the file it names is replaced and the link stays.
    On any failure the temporary file is removed and the old file is left as it was.
    """
    target = Path(os.path.realpath(path))
    folder = target.parent
    data = text.encode("utf-8")
    temporary, fd = _create_temporary(folder, target.name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temporary, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_folder(folder)


def _create_temporary(folder: Path, name: str) -> tuple[Path, int]:
    """A new, empty file beside ``name`` (``.NAME.RANDOM.tmp``), created with the mode a
    plain write would give it (0666 less the umask), and its open descriptor."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        temporary = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            return temporary, os.open(temporary, flags, 0o666)
        except FileExistsError:
            continue


def _sync_folder(folder: Path) -> None:
    """Sync the folder's entry list to disk; not every system or file system allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
