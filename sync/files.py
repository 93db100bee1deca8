"""Replacing a file so that a power cut leaves the old one or the new one, never a part.

>>> write_atomic(path, b"data")                 # doctest: +SKIP
>>> write_atomic(key_file, pem, mode=0o600)     # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to a temp file beside ``path``, sync it, rename it over ``path`` and sync
    the folder. ``mode``: the file's permission bits; without it an existing file keeps its
    mode and owner, and a new one gets the umask's."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else mode)
    try:
        if mode is not None:
            os.fchmod(fd, mode)  # an old tmp file left by a crash may have other bits
        else:
            try:
                old = os.stat(path)
            except FileNotFoundError:
                pass
            else:
                os.fchmod(fd, old.st_mode & 0o7777)
                if os.geteuid() == 0:
                    os.fchown(fd, old.st_uid, old.st_gid)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)  # a full disk left an empty temp file beside the config
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
