"""Writing output files into a folder the user named, safely.

``llmcfg ocr --out DIR`` writes one file per image into a folder that may be shared or prepared by
someone else. So a file is never overwritten unless asked (``--force``), a symlink planted in the
folder is never written through (files are created with ``O_EXCL | O_NOFOLLOW``, and ``--force``
replaces the link itself, atomically, via a new file and ``os.replace``), and names are checked to
stay inside the folder (every open is relative to the folder's own descriptor).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from llmcfg.cli.output import UsageError

__all__ = ["OutputExistsError", "check_name", "write_new"]

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class OutputExistsError(UsageError):
    """The output file (or a link with its name) is already there and --force was not given."""


def check_name(name: str) -> str:
    """``name`` if it is one plain file name (no folder part, not ``.``/``..``)."""
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise UsageError(f"refusing to write {name!r}: not a plain file name inside the output folder")
    return name


def exists(folder: Path, name: str) -> bool:
    """True for a file, a folder or a link (even a dangling one) called ``name`` in ``folder``."""
    return os.path.lexists(folder / check_name(name))


def write_new(folder: Path, name: str, data: bytes, *, force: bool = False) -> Path:
    """Write ``data`` to ``folder/name``; never through a link, never over a file unless ``force``."""
    check_name(name)
    os.makedirs(folder, exist_ok=True)
    directory = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        if not force:
            try:
                _write(directory, name, data)
            except FileExistsError:
                raise OutputExistsError(
                    f"{folder / name} already exists: pass --force to overwrite it"
                ) from None
            return folder / name
        # --force: a new file beside it, then rename over the old name. rename replaces a link
        # itself, so whatever a planted link points to is left alone.
        temporary = f".{name}.{secrets.token_hex(6)}.part"
        _write(directory, temporary, data)
        try:
            os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
        except OSError:
            os.unlink(temporary, dir_fd=directory)
            raise
        return folder / name
    finally:
        os.close(directory)


def _write(directory: int, name: str, data: bytes) -> None:
    fd = os.open(name, _CREATE, 0o644, dir_fd=directory)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
