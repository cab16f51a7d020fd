"""Output directories: checked before any work, written atomically (all or nothing)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from sim.errors import UserError


def check_out_dir(out: str | Path, what: str = "run") -> Path:
    """Validate an output directory argument before any work is done.

    ``out`` may be new, empty, or an earlier output (it holds a ``manifest.json``); the
    messages name ``what`` writes there ("run", "batch").
    """
    out = Path(out)
    parent = out.resolve().parent
    if not parent.is_dir():
        raise UserError(
            f"--out {out}: the parent directory {parent} does not exist; create it first"
        )
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory")
    here = Path.cwd().resolve()
    if out.resolve() == here or out.resolve() in here.parents:
        raise UserError(
            f"--out {out}: is the current directory or one of its parents; "
            f"name a new directory for the {what}"
        )
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise UserError(
            f"--out {out}: exists and is not the output of an earlier {what} "
            "(no manifest.json); refusing to write into it: name a new directory"
        )
    if not os.access(parent, os.W_OK):
        raise UserError(f"--out {out}: cannot write in {parent}")
    return out


@contextlib.contextmanager
def atomic_dir(out: str | Path):
    """Yield a temporary directory beside ``out``; on success it becomes ``out``.

    On any error (or an interrupt) the temporary directory is removed and ``out`` is left
    as it was, so no reader ever sees a half-written output.
    """
    out = check_out_dir(out)
    parent = out.resolve().parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; an output directory is not
    try:
        yield tmp
        if out.exists():
            old = parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
