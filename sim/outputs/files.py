"""Output directories and the files in them, written all or nothing, never over work
that the command did not make.

A directory is checked before any work (:func:`check_out_dir`): it may be new (its
missing parent directories too: they are created when it is written, and removed again
if the write fails), empty, or an earlier output of the same kind
(:mod:`sim.outputs.kinds`) that holds nothing else;
anything else is refused unless ``force`` says to replace it. It is built in a temporary
directory that replaces it only when complete (:func:`atomic_dir`): on any failure the
earlier output is left exactly as it was, and a failure to write (disk full, read-only,
a file-size limit) is an :class:`~sim.errors.OutputError` naming the path and the cause.
An ``--out`` that is a symbolic link is followed: the link's target is replaced and the
link kept. A single file is written under a temporary name and renamed into place
(:func:`atomic_file`). Every writer saves its figures with :func:`write_figure` and its
manifest with :func:`write_manifest`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from sim.errors import OutputError, UserError, os_error_cause
from sim.outputs.kinds import (
    ANALYSIS,
    BATCH,
    CALIBRATION,
    ENSEMBLE,
    FORECAST,
    MANIFEST,
    RUN,
    SCORE,
    inspect_dir,
    listing,
)

__all__ = [
    "MANIFEST",
    "atomic_dir",
    "atomic_file",
    "check_out_dir",
    "existing_ancestor",
    "make_parents",
    "out_target",
    "remove_made",
    "temporary_path",
    "write_failed",
    "write_figure",
    "write_manifest",
]

#: The longest name the temporary and old names beside an output add to its own.
_NAME_ROOM = 40
#: How each kind names an earlier output of its own, for the messages.
_EARLIER = {
    RUN: "an earlier run",
    ENSEMBLE: "an earlier run --replicates",
    BATCH: "an earlier batch",
    ANALYSIS: "an earlier plot, compare or sensitivity",
    CALIBRATION: "an earlier calibrate",
    FORECAST: "an earlier forecast",
    SCORE: "an earlier score",
}
_COMMAND = {
    RUN: "`run`",
    ENSEMBLE: "`run --replicates`",
    FORECAST: "`forecast`",
    SCORE: "`score`",
}
_FORCE = "add --force to replace it"


def out_target(out: str | Path) -> Path:
    """Where ``out`` really is: symbolic links (of the directory and its parents)
    followed, even when the directory itself does not exist yet."""
    return Path(os.path.realpath(out))


def check_out_dir(
    out: str | Path, what: str = RUN, *, force: bool = False, inputs: Iterable = ()
) -> Path:
    """Validate an output directory argument before any work is done.

    Args:
        out: the directory; it may be new, empty, or an earlier output of ``what``
            (for a run or an ensemble, one that holds nothing else).
        what: the kind that writes there (``run``, ``ensemble``, ``batch``,
            ``analysis``, ``calibration``, ``forecast``, ``score``), for the checks and
            the messages. A batch accepts any batch store and a calibration any
            calibration (resuming it or not is theirs to decide); the analysis commands
            accept any analysis directory (which file they may replace is theirs).
        force: replace what is there whatever it is (never the current directory or
            one of its parents, the home directory, or an input of the command).
        inputs: files or directories the command reads: ``out`` must not hold them.

    Returns:
        ``out`` as a path.

    Raises:
        UserError: the directory cannot or must not be written.
    """
    out = Path(out)
    real = _check_path(out, what, inputs)
    found = inspect_dir(real)
    if found.empty or force:
        return out
    if what in (BATCH, ANALYSIS, CALIBRATION) and found.kind == what:
        return out
    if found.kind == what:
        extras = found.extras(what)
        if not extras:
            return out
        names, command = listing(extras), _COMMAND[what]
        raise UserError(
            f"--out {out}: holds the output of an earlier {command} and also {names}, "
            f"which {command} does not write; refusing to replace it ({names} would be "
            f"lost): move {'it' if len(extras) == 1 else 'them'} away, name a new "
            f"directory, or add --force to replace everything in {out}"
        )
    if found.kind is None and not found.has_manifest:
        raise UserError(
            f"--out {out}: exists and is not the output of {_EARLIER[what]} (no {MANIFEST}; "
            f"it holds {listing(found.entries)}); refusing to write into it: name a new "
            f"directory, or {_FORCE}"
        )
    raise UserError(
        f"--out {out}: holds {found.describe()}, not the output of {_EARLIER[what]}; "
        f"refusing to replace it: name a new directory, or {_FORCE}"
    )


def _check_path(out: Path, what: str, inputs: Iterable) -> Path:
    """The checks of ``out`` as a path (not of what it holds); returns its target."""
    if out.is_symlink() and Path(os.path.realpath(out)).is_symlink():
        raise UserError(f"--out {out}: a symbolic link that leads nowhere (a loop)")
    real = out_target(out)
    parent = existing_ancestor(real)
    if not parent.is_dir():
        raise UserError(
            f"--out {out}: {parent} is not a directory, so nothing can be written under it"
        )
    if real.exists() and not real.is_dir():
        link = f" (a symbolic link to {real})" if out.is_symlink() else ""
        raise UserError(f"--out {out}: exists and is not a directory{link}")
    here = Path.cwd().resolve()
    if real == here or real in here.parents:
        raise UserError(
            f"--out {out}: is the current directory or one of its parents; "
            f"name a new directory for the {what}"
        )
    with contextlib.suppress(RuntimeError, KeyError):
        if real == Path.home().resolve():
            raise UserError(f"--out {out}: is the home directory; name a new directory")
    for path in inputs:
        inp = out_target(path)
        if inp == real or real in inp.parents:
            raise UserError(
                f"--out {out}: is or holds {path}, which this command reads; name another directory"
            )
    with contextlib.suppress(OSError, ValueError):
        most = os.pathconf(parent, "PC_NAME_MAX") - _NAME_ROOM
        if len(os.fsencode(real.name)) > most:
            raise UserError(
                f"--out {out}: the name is {len(os.fsencode(real.name))} bytes long; "
                f"here at most {most} (the file system allows {most + _NAME_ROOM}, and the "
                "temporary name written beside it is longer)"
            )
    if not os.access(parent, os.W_OK):
        missing = "" if parent == real.parent else f" (to create {real.parent})"
        raise UserError(f"--out {out}: cannot write in {parent}{missing}: {_unwritable(parent)}")
    return real


def existing_ancestor(path: Path) -> Path:
    """The parent of ``path`` if it exists, else the nearest ancestor that does (the
    directory in which the missing ones would be created)."""
    parent = path.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    return parent


def make_parents(path: Path) -> list[Path]:
    """Create the missing directories above ``path``; returns those created, deepest
    first (what :func:`remove_made` removes again if the write fails).

    Raises:
        OSError: one could not be created (those made before it are removed).
    """
    made: list[Path] = []
    missing = []
    parent = path.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    try:
        for d in reversed(missing):
            d.mkdir()
            made.insert(0, d)
    except OSError:
        remove_made(made)
        raise
    return made


def remove_made(made: list[Path]) -> None:
    """Remove the directories :func:`make_parents` created, deepest first, as long as
    they are empty (another process may have written there meanwhile)."""
    for d in made:
        try:
            d.rmdir()
        except OSError:
            return


def _unwritable(path: Path) -> str:
    """Why a directory that ``os.access`` says is not writable is not."""
    with contextlib.suppress(OSError, AttributeError):
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return os_error_cause(OSError(errno.EROFS, "read-only file system"))
    return os_error_cause(OSError(errno.EACCES, "permission denied"))


@contextlib.contextmanager
def atomic_dir(
    out: str | Path, what: str = RUN, *, force: bool = False, inputs: Iterable = ()
) -> Iterator[Path]:
    """Yield a temporary directory beside ``out``; on success it becomes ``out``.

    ``out`` is checked with :func:`check_out_dir` before and again just before the
    swap (so an output that appeared there meanwhile is not replaced either). On any
    error (or an interrupt) the temporary directory is removed and ``out`` is left as
    it was; an ``OSError`` (disk full, read-only, ...) becomes an
    :class:`~sim.errors.OutputError` that names ``out`` and the cause. A symbolic link
    ``out`` is followed: its target is replaced, the link kept.

    Args:
        out: the output directory.
        what: the kind that writes there (``run``, ``ensemble``, ``batch``, ``analysis``).
        force: replace whatever ``out`` holds (see :func:`check_out_dir`).
        inputs: what the command reads, which ``out`` must not hold.
    """
    out = check_out_dir(out, what, force=force, inputs=inputs)
    real = out_target(out)
    existed = real.exists()
    made: list[Path] = []
    try:
        made = make_parents(real)
        tmp = Path(tempfile.mkdtemp(prefix=f".{real.name}.tmp-", dir=real.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; an output is not
    except OSError as exc:
        remove_made(made)
        raise OutputError(write_failed(out, exc, existed)) from None
    try:
        yield tmp
        check_out_dir(out, what, force=force)
        _swap_in(tmp, real)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_made(made)
        raise OutputError(write_failed(out, exc, existed, tmp)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_made(made)
        raise


def write_failed(out: Path, exc: OSError, existed: bool, tmp: Path | None = None) -> str:
    """The message of an output that could not be written: the path, the cause, the
    file it failed at (as it would have been named in ``out``) and what is left."""
    at = ""
    if exc.filename is not None:
        name = str(exc.filename)
        if tmp is not None and name.startswith(str(tmp)):
            name = str(Path(out) / os.path.relpath(name, tmp))
        at = f" (at {name})"
    left = "the earlier output there is unchanged" if existed else "nothing was written"
    return f"{out}: could not write it: {os_error_cause(exc)}{at}; {left}"


def _swap_in(tmp: Path, real: Path) -> None:
    """Rename the finished ``tmp`` to ``real``; an earlier ``real`` is renamed aside
    first (and back if the second rename fails), then removed."""
    if not real.exists():
        os.rename(tmp, real)
        return
    old = real.with_name(f".{real.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.rename(real, old)
    try:
        os.rename(tmp, real)
    except BaseException:
        os.rename(old, real)
        raise
    shutil.rmtree(old, ignore_errors=True)
    if os.path.lexists(old):
        print(
            f"warning: {real} is written, but the output it replaced could not be removed "
            f"completely; delete {old}",
            file=sys.stderr,
        )


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
    """Save a matplotlib figure as ``path`` (a PNG, whatever the name ends in: it may be
    a temporary name) and close it (also when saving fails)."""
    import matplotlib.pyplot as plt

    try:
        fig.savefig(path, dpi=dpi, format="png")
    finally:
        plt.close(fig)


def dictionary_columns(table) -> list[str]:
    """The columns of a ``pyarrow.Table`` worth dictionary encoding in Parquet: all but
    the floating-point ones. Keys (run, step, date, state, partner) repeat and shrink to
    a few bits; model outputs hardly repeat, and encoding them first as a dictionary
    (pyarrow's default for every column) doubles the time of writing a part for about
    10% less disk."""
    import pyarrow as pa

    return [f.name for f in table.schema if not pa.types.is_floating(f.type)]
