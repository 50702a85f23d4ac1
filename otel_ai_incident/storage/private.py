"""Files that hold user data (databases, exports, regression cases, post-mortems) are created 0600.

Whatever the process umask, only the owner may read them: they can hold prompts, replies and pseudonyms. An
existing file written again is narrowed to 0600 too. Share one deliberately (chmod, a group) if needed.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import IO

PRIVATE_MODE = 0o600


def create_private(path: str | os.PathLike[str]) -> None:
    """Create a missing file readable by its owner only, empty (for SQLite, whose WAL and shared-memory files
    take the database's mode). Where it cannot be created, the caller's own open reports why."""
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))


def open_private(path: str | os.PathLike[str]) -> IO[str]:
    """A text file opened for writing (truncated), readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)  # an existing file keeps its old mode otherwise
        return os.fdopen(fd, "w", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def write_private_text(path: str | os.PathLike[str], text: str) -> None:
    with open_private(Path(path)) as out:
        out.write(text)
