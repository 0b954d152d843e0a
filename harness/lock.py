"""One writer per output folder: ``medlethe run`` and ``medlethe sweep`` hold a lock on their
output folder for as long as they write into it, so two commands never replace (and delete)
each other's results. A second command is refused at once with the first one's process id.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

from medlethe.errors import MedletheError

LOCK_NAME = ".medlethe.lock"


class FolderBusyError(MedletheError):
    """Another medlethe command is writing into the same output folder."""


@contextlib.contextmanager
def hold(folder: str | Path, what: str = "output folder") -> Iterator[Path]:
    """Hold ``folder``'s lock until the block ends (released too when the process dies)."""
    try:
        import fcntl
    except ImportError:  # no advisory locks on this system: run unlocked
        yield Path(folder)
        return
    path = Path(folder) / LOCK_NAME
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115 (held for the whole block)
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise FolderBusyError(
                f"{folder} is in use: another medlethe command ({holder}) is writing into "
                f"this {what}. Wait for it to finish, or give this command another --output."
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}")
        fh.flush()
        yield Path(folder)
    finally:
        fh.close()
