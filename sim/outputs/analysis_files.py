"""The figures and tables of a batch (``plot``, ``compare``, ``sensitivity``), written
into one directory that remembers what made each file.

The three commands share a directory (by default ``BATCH/plots``) of kind ``analysis``.
Its manifest records, for every file, the command, its arguments and the batch
(experiment name and content hash) that made it, and for the files of one outcome
(``compare_A_vs_B__OUTCOME.csv``, ``sensitivity__OUTCOME.png``) the outcome's name and
text. Files are named after what they measure, so two outcomes never share a file. A
command replaces a file only when the same command with the same arguments on the same
experiment made it (the batch may have more runs since: that is the same measure,
updated); a file made with other arguments, by an earlier version (which recorded none)
or by hand is refused, naming it, unless ``force``. Files the command does not write
are never touched. The files of one command appear together: each is written under a
temporary name first, and the manifest is updated after they are renamed into place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sim.errors import OutputError, UserError
from sim.outputs.files import (
    atomic_dir,
    check_out_dir,
    out_target,
    temporary_path,
    write_failed,
    write_manifest,
)
from sim.outputs.kinds import ANALYSIS, MANIFEST, inspect_dir, listing
from sim.outputs.manifest import stamped, utc_now

#: What writes one file, given the path to write it at.
Writer = Callable[[Path], None]


@dataclass
class AnalysisDir:
    """An analysis directory checked for one command's files, ready to write them."""

    out: Path
    record: dict  # command, arguments, batch: what made the files
    force: bool
    inputs: tuple = ()
    new: bool = True  # written as a whole (missing, empty, or replaced with force)
    files: dict = field(default_factory=dict)  # the manifest's records of earlier files
    created: str | None = None  # when the directory was first written
    per_file: dict = field(default_factory=dict)  # name -> fields over ``record``

    def write(self, products: dict[str, Writer]) -> list[str]:
        """Write every product (name -> writer) and the manifest; returns the names.

        Raises:
            OutputError: a file could not be written (nothing new is left behind).
        """
        now = utc_now()
        files = dict(self.files)
        for name in products:
            files[name] = {**self.record, **self.per_file.get(name, {}), "created": now}
        manifest = stamped({"kind": ANALYSIS, "files": files}, kind=ANALYSIS)
        if self.created is not None:
            manifest["created"], manifest["updated"] = self.created, now
        if self.new:
            with atomic_dir(self.out, ANALYSIS, force=self.force, inputs=self.inputs) as tmp:
                for name, write in products.items():
                    write(tmp / name)
                write_manifest(tmp, manifest)
        else:
            self._write_beside(products, manifest)
        return list(products)

    def _write_beside(self, products: dict[str, Writer], manifest: dict) -> None:
        """Write into the existing directory: every file under a temporary name, then
        all renamed into place, then the manifest."""
        real = out_target(self.out)
        temporaries: dict[Path, Path] = {}
        try:
            for name, write in products.items():
                tmp = temporary_path(real / name)
                temporaries[tmp] = real / name
                write(tmp)
            for tmp, final in temporaries.items():
                os.replace(tmp, final)
            write_manifest(real, manifest)
        except OSError as exc:
            raise OutputError(write_failed(self.out, exc, existed=True)) from None
        finally:
            for tmp in temporaries:
                tmp.unlink(missing_ok=True)


def open_analysis_dir(
    out: str | Path,
    names: Iterable[str],
    record: dict,
    *,
    force: bool = False,
    inputs: Iterable = (),
    per_file: Mapping[str, dict] | None = None,
) -> AnalysisDir:
    """Check that a command may write ``names`` into ``out``.

    Args:
        out: the directory (new, empty, or an analysis directory; anything else only
            with ``force``, which replaces it as a whole).
        names: the files the command writes.
        record: what made them: ``command``, ``arguments`` (a dict of the options that
            change what is measured), ``batch`` (``experiment``, ``content_hash``).
        force: replace what is there (a directory of another kind as a whole; in an
            analysis directory, only the files named).
        inputs: what the command reads (the batch), which ``out`` must not hold.
        per_file: name -> fields that replace ``record``'s for that file (the files of
            one outcome: its own ``arguments`` and ``outcome``), so that each file is
            judged by what made it alone.

    Raises:
        UserError: ``out`` must not be written, or a file would replace one made
            otherwise (each such file named with what made it).
    """
    out = check_out_dir(out, ANALYSIS, force=force, inputs=inputs)
    inputs = tuple(inputs)
    per_file = dict(per_file or {})
    found = inspect_dir(out_target(out))
    if found.empty or found.kind != ANALYSIS:
        return AnalysisDir(out, record, force, inputs, per_file=per_file)
    manifest = found.manifest if found.manifest and found.manifest.get("kind") else {}
    files = manifest.get("files") if isinstance(manifest.get("files"), dict) else {}
    clashes: dict[str, list[str]] = {}  # what made them -> the files
    for name in names:
        mine = {**record, **per_file.get(name, {})}
        if name in found.names() and not _same(files.get(name), mine):
            clashes.setdefault(_made_by(files.get(name)), []).append(name)
    if clashes and not force:
        made = "; ".join(f"{listing(v)}, {k}" for k, v in clashes.items())
        several = sum(map(len, clashes.values())) > 1
        raise UserError(
            f"--out {out}: this {record['command']} ({describe(record)}) would replace "
            f"{made}. Add --force to replace {'them' if several else 'it'}, or name "
            "another --out"
        )
    return AnalysisDir(
        out,
        record,
        force,
        inputs,
        new=False,
        files=files,
        created=manifest.get("created"),
        per_file=per_file,
    )


def _same(earlier: dict | None, record: dict) -> bool:
    """The earlier file was made by the same command, arguments and experiment."""
    if not isinstance(earlier, dict):
        return False
    keys = ("command", "arguments")
    batch_then = earlier.get("batch") if isinstance(earlier.get("batch"), dict) else {}
    return all(earlier.get(k) == record.get(k) for k in keys) and batch_then.get(
        "content_hash"
    ) == record["batch"].get("content_hash")


def _made_by(earlier: dict | None) -> str:
    """Who made a file, from its record: ``made by plot (--state AZ, experiment 'x')``."""
    if earlier is None:
        return "which no analysis command recorded (an earlier version, or by hand)"
    if not isinstance(earlier, dict):
        return f"whose record in {MANIFEST} is damaged"
    return f"made by {earlier.get('command')} ({describe(earlier)})"


def describe(record: dict) -> str:
    """The arguments and experiment of a record, as options: ``--state AZ --date
    2030-12-31, experiment 'EU gas deal fails'``."""
    parts = []
    for key, value in (record.get("arguments") or {}).items():
        values = value if isinstance(value, list) else [value]
        parts += [f"--{key.replace('_', '-')} {v}" for v in values if v is not None]
    batch = record.get("batch") if isinstance(record.get("batch"), dict) else {}
    exp = f"experiment {batch.get('experiment')!r}"
    return (" ".join(parts) or "no options") + f", {exp}"
