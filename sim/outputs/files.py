"""Output directories and the files in them, written all or nothing.

A directory is checked before any work (:func:`check_out_dir`) and built in a temporary
directory that replaces it only when complete (:func:`atomic_dir`). A single file is
written under a temporary name and renamed into place (:func:`atomic_file`). Every
writer saves its figures with :func:`write_figure` and its manifest with
:func:`write_manifest`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from sim.errors import UserError

#: The file every output directory holds; it marks the directory as an output.
MANIFEST = "manifest.json"


def check_out_dir(out: str | Path, what: str = "run") -> Path:
    """Validate an output directory argument before any work is done.

    Args:
        out: the directory; it may be new, empty, or an earlier output (it holds a
            ``manifest.json``).
        what: what writes there ("run", "batch"), for the messages.

    Returns:
        ``out`` as a path.

    Raises:
        UserError: the directory cannot or must not be written.
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
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise UserError(
            f"--out {out}: exists and is not the output of an earlier {what} "
            f"(no {MANIFEST}); refusing to write into it: name a new directory"
        )
    if not os.access(parent, os.W_OK):
        raise UserError(f"--out {out}: cannot write in {parent}")
    return out


@contextlib.contextmanager
def atomic_dir(out: str | Path, what: str = "run") -> Iterator[Path]:
    """Yield a temporary directory beside ``out``; on success it becomes ``out``.

    On any error (or an interrupt) the temporary directory is removed and ``out`` is left
    as it was, so no reader ever sees a half-written output.

    Args:
        out: the output directory, checked with :func:`check_out_dir`.
        what: what writes there ("run", "batch"), for the messages.
    """
    out = check_out_dir(out, what)
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


def temporary_path(path: Path) -> Path:
    """A hidden name beside ``path`` that no other process or thread picks:
    ``.NAME.tmp-PID-RANDOM`` (what :func:`atomic_file` writes before renaming)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; once written, it replaces ``path``.

    A reader sees the old file or the new one, never half of one. On an error the
    temporary file is removed.
    """
    tmp = temporary_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_manifest(directory: Path, manifest: dict) -> None:
    """Write ``manifest`` as ``directory/manifest.json`` (indented JSON; values JSON does
    not know, such as dates and paths, as text), atomically."""
    with atomic_file(directory / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=2, default=str))


def write_figure(fig, path: Path, dpi: int = 120) -> None:
    """Save a matplotlib figure as ``path`` (a PNG) and close it."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=dpi)
    plt.close(fig)
