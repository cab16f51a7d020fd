"""One writer per batch store: an exclusive ``fcntl.flock`` on a lock file beside it.

``multivector batch ... --out runs/x`` holds ``runs/.x.lock`` (beside the store, not in
it: a new store is built in a temporary directory and renamed into place, and the lock
must cover that too) for as long as it runs. The file says who holds it: pid, host,
start time and command. A second batch on the same directory is refused at once (a
:class:`~sim.errors.UserError` naming the holder, exit 2) instead of waiting.

The operating system releases a ``flock`` when the process that holds it ends, however
it ends (a crash, ``kill -9``), so a dead batch never leaves the store locked; a lock
file left behind by one is taken over by the next batch. The holder removes the file
when it is done, while it still holds the lock; a process that locked the file just
before it was removed notices that the path no longer names the file it locked and
starts again. Local file systems honour ``flock`` between processes; a network file
system may not (NFS emulates it with byte-range locks; some others ignore it).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path

from sim.errors import UserError
from sim.outputs.manifest import utc_now


def lock_path(out: Path) -> Path:
    """The lock file of the store ``out``: ``.NAME.lock`` beside it (symbolic links in
    ``out`` resolved, so that two names of one directory share one lock)."""
    real = Path(out).resolve()
    return real.parent / f".{real.name}.lock"


class StoreLock:
    """The exclusive lock of a batch store, as a context manager.

    Raises:
        UserError: another process holds it (at ``__enter__``).
    """

    def __init__(self, out: Path):
        self.out = Path(out)
        self.path = lock_path(self.out)
        self.fd: int | None = None

    def __enter__(self) -> StoreLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock and write who holds it, or raise naming the holder."""
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _holder(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise UserError(f"--out {self.out}: cannot lock {self.path} ({exc})") from None
                raise UserError(self._held_message(holder)) from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # its holder removed it as we locked it: lock the new one
        me = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": utc_now(),
            "command": " ".join(sys.argv),
        }
        self.fd = fd
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
        except OSError:
            pass  # opened read-only (another user's stale file): locked, holder unsaid

    def _open(self) -> int:
        """The lock file, created if need be; read-only if it is another user's (a
        read-only descriptor takes an exclusive flock just as well)."""
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:
            pass
        except OSError as exc:
            raise UserError(
                f"--out {self.out}: cannot create the lock file {self.path} ({exc})"
            ) from None
        try:
            return os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise UserError(
                f"--out {self.out}: cannot open the lock file {self.path} ({exc})"
            ) from None

    def release(self) -> None:
        """Remove the lock file and release the lock (the file first, while it is held)."""
        if self.fd is None:
            return
        try:
            if _same_file(self.fd, self.path):
                self.path.unlink()
        except OSError:
            pass
        finally:
            os.close(self.fd)  # closing the last descriptor releases the flock
            self.fd = None

    def _held_message(self, holder: dict) -> str:
        who = (
            f"process {holder.get('pid', '?')} on {holder.get('host', '?')}, "
            f"started {holder.get('started', '?')}"
        )
        if holder.get("command"):
            who += f" ({holder['command']})"
        return (
            f"--out {self.out}: another batch is writing this store: {who}. Wait for it to "
            f"end (or stop it), then rerun this command to resume. The lock ({self.path}) "
            "is released when that process ends, even if it is killed"
        )


def _holder(fd: int) -> dict:
    """Who holds the lock, from its file (the holder writes it right after locking:
    wait a moment for it)."""
    for _ in range(20):
        try:
            holder = json.loads(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            if isinstance(holder, dict):
                return holder
        except (OSError, ValueError):
            pass
        time.sleep(0.025)
    return {}


def _same_file(fd: int, path: Path) -> bool:
    """``path`` still names the file open as ``fd``."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)
