"""Errors that reach the user as a message and exit code 2, never as a traceback.

:func:`os_error_text` turns an :class:`OSError` (a full disk, a read-only file system, a
file-size limit, ...) into one sentence naming the path and the cause; the CLI prints it
for any ``OSError`` that reaches it, and the output writers raise it as an
:class:`OutputError` that also says what became of the earlier output.
"""

from __future__ import annotations

import errno


class UserError(Exception):
    """Bad input from the user: a scenario file, an argument, an output path.

    The message is complete as it stands (it names the file, line, field and what was
    expected where they are known); the CLI prints it and exits with code 2.
    """

    exit_code = 2


class ScenarioError(UserError):
    """A scenario file that cannot be read, merged or validated.

    Holds one or more problems, each already formatted as
    ``FILE:LINE: field a.b.c: what was expected``.
    """

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class OutputError(UserError):
    """An output that could not be written (disk full, read-only, no permission, ...).

    The message names the output, the cause, and what was left on disk (nothing new:
    the earlier output, if any, is as it was).
    """


#: What each errno means for someone writing outputs, in words.
_CAUSES = {
    errno.ENOSPC: "no space left on device (the disk is full)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (a file-size limit such as `ulimit -f`, or the file "
    "system's largest file)",
    errno.EROFS: "read-only file system",
    errno.EBUSY: "device or resource busy (a mount point, or a file in use)",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted (an immutable file, or missing rights)",
    errno.ENAMETOOLONG: "file name too long for the file system",
    errno.ENOENT: "no such file or directory",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EISDIR: "is a directory",
    errno.EEXIST: "already exists",
    errno.ENOTEMPTY: "directory not empty",
    errno.EXDEV: "on another file system",
    errno.EMFILE: "too many open files (see `ulimit -n`)",
    errno.ENFILE: "too many open files in the system",
    errno.EIO: "input/output error (a failing disk, or a lost network file system)",
    errno.ELOOP: "too many levels of symbolic links",
    errno.ENOMEM: "out of memory",
    errno.ETXTBSY: "text file busy",
    errno.ESTALE: "stale file handle (a network file system lost the file)",
}


def os_error_cause(exc: OSError) -> str:
    """The cause of ``exc`` in words, with its errno name: ``no space left on device
    (the disk is full) [ENOSPC]``."""
    code = exc.errno
    name = errno.errorcode.get(code) if isinstance(code, int) else None
    text = _CAUSES.get(code) or (exc.strerror or str(exc) or type(exc).__name__)
    return f"{text} [{name}]" if name else text


def os_error_text(exc: OSError, path: object = None) -> str:
    """One sentence for ``exc``: the path (``path``, or the file the error names) and
    the cause, e.g. ``runs/a/ties.parquet: no space left on device ... [ENOSPC]``."""
    where = path if path is not None else exc.filename
    text = os_error_cause(exc)
    if exc.filename2 is not None:
        text += f" (moving {exc.filename} to {exc.filename2})"
    elif path is not None and exc.filename is not None and str(exc.filename) != str(path):
        text += f" (at {exc.filename})"
    return f"{where}: {text}" if where is not None else f"a file operation failed: {text}"


def run_command(command, *args) -> int:
    """``command(*args)``'s exit code for a tool's ``main``: a :class:`UserError` or an
    ``OSError`` is printed as ``error: ...`` with its exit code (2 for an OS error), an
    interrupt exits 130; never a traceback for bad input."""
    import sys

    try:
        return command(*args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        print(f"error: {os_error_text(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
