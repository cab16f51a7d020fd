"""Shards: one experiment's batch cut into M disjoint slices, run anywhere, read as one.

``multivector batch EXP --out DIR --shard K/M`` (``sim.batch.run(..., shard=(K, M))``)
runs the K-th of M slices of the experiment's runs, so that a SLURM array job (or any
scheduler) runs the M shards on as many machines; ``sim.batch.load(DIR)`` reads their
union.

Layout of ``DIR/``::

    shard-1-of-8/          a complete batch store (:mod:`sim.batch.store`) of shard 1
    .shard-1-of-8.lock     its lock (:mod:`sim.batch.lock`), beside it as for any store
    shard-2-of-8/ ...      one store per shard
    plots/                 what ``multivector plot/compare/sensitivity DIR`` write

Why one complete store per shard. A cluster's tasks share a network file system and
nothing else: no process sees another, any of them may be killed (pre-empted, out of
time) or rerun on another node, and the network file system may not honour locks
between nodes. So two shards never write the same file, nor take the same lock: each
owns one folder, built, locked, checked, resumed and repaired exactly as an unsharded
store is (its manifest, design, ledgers and kill -9 guarantees unchanged), and a
shard's folder can be copied, checked or deleted alone. Nothing is written at the top of
``DIR``: no shared manifest that tasks finishing together would race to update; the
union is worked out when it is read.

Slices. The run ids ``0..N-1`` are cut into M contiguous blocks as
``numpy.array_split`` cuts them (the first ``N % M`` blocks one run longer). A run's
row, seed included, depends on its run id alone (:func:`sim.batch.design.run_table`),
so every run has the seed it has unsharded and the union of the shards' tables is the
unsharded batch's. Blocks keep a shard's design table small and its runs in the order
of the whole design; within a shard the runs are chunked as any batch's (chunk ids start
at 0 in each shard).

Each shard's manifest records ``shard``: ``{"index": K, "count": M, "run_ids": [FIRST,
LAST], "experiment_runs": N}``, beside the experiment's content hash and the root seed
every manifest holds. A shard refuses a ``DIR`` that holds anything but shards of the
same cut (and their locks, temporary names and ``plots/``), and shards of another
experiment unless ``--force``, which replaces only the shard's own folder: nothing
else in ``DIR`` is ever removed, since the other shards may be running elsewhere.
Reading checks that the shards are of one experiment (content hash, M, N), that each
covers its block, and that none is missing or unfinished (``partial=True`` reads what
is there, and says what is not).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from sim.batch.ledger import DESIGN, check_manifest, describe_shard, part_dirs
from sim.batch.store import read_manifest
from sim.errors import UserError
from sim.outputs.files import MANIFEST, out_target
from sim.outputs.kinds import inspect_dir, listing

#: The most shards one batch is cut into: each is a store of its own (a manifest, a
#: design, a lock), read one by one; a SLURM array is at most a few thousand tasks.
MAX_SHARDS = 100_000
#: A shard's folder in ``DIR``.
SHARD_DIR = re.compile(r"shard-([1-9][0-9]{0,5})-of-([1-9][0-9]{0,5})")
#: A sharded directory may also hold the analysis commands' default folder.
_ANALYSIS = "plots"
_FORM = f"K/M (shard K of M, 1 <= K <= M <= {MAX_SHARDS:,})"


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``: the ``index``-th of ``count`` blocks of run ids.

    Raises:
        UserError: not whole numbers with 1 <= index <= count <= :data:`MAX_SHARDS`.
    """

    index: int
    count: int

    def __post_init__(self):
        problem = _problem(self.index, self.count)
        if problem:
            raise UserError(f"shard=({self.index!r}, {self.count!r}): {problem}")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``K/M`` as ``--shard`` takes it.

        Raises:
            ValueError: not of that form, or out of bounds (the message says which).
        """
        m = re.fullmatch(r"\s*([0-9]{1,24})\s*/\s*([0-9]{1,24})\s*", text)
        if m is None:
            raise ValueError(f"expected {_FORM}, got {text!r}")
        k, n = int(m.group(1)), int(m.group(2))
        problem = _problem(k, n)
        if problem:
            raise ValueError(f"{problem}; got {k}/{n}")
        return cls(k, n)

    @classmethod
    def of(cls, value: Shard | tuple[int, int]) -> Shard:
        """A shard from ``(K, M)`` (the Python form of ``--shard K/M``)."""
        if isinstance(value, Shard):
            return value
        if not (isinstance(value, tuple | list) and len(value) == 2):
            raise UserError(f"shard={value!r}: expected a pair (K, M), shard K of M")
        return cls(*value)

    @property
    def name(self) -> str:
        """The shard's folder in ``DIR``: ``shard-K-of-M``."""
        return f"shard-{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def run_ids(self, n_runs: int) -> range:
        """The shard's run ids among ``n_runs``: ``numpy.array_split``'s block."""
        size, extra = divmod(n_runs, self.count)
        k = self.index - 1
        first = k * size + min(k, extra)
        return range(first, first + size + (k < extra))

    def record(self, n_runs: int) -> dict:
        """The manifest's ``shard``: which shard, which runs, of how many."""
        ids = self.run_ids(n_runs)
        return {
            "index": self.index,
            "count": self.count,
            "run_ids": [ids.start, ids.stop - 1],
            "experiment_runs": n_runs,
        }

    def check_size(self, n_runs: int, where: str) -> None:
        """Refuse more shards than runs (a shard without runs is no store)."""
        if self.count > n_runs:
            raise UserError(
                f"--shard {self}: {where} has {n_runs:,} runs, so at most {n_runs:,} shards "
                "(each shard runs at least one)"
            )


def _problem(k, m) -> str | None:
    """What is wrong with shard ``k`` of ``m`` (``None``: nothing)."""
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (k, m)):
        return f"expected {_FORM}, whole numbers"
    if not 1 <= m <= MAX_SHARDS:
        return f"M is the number of shards, from 1 to {MAX_SHARDS:,}"
    if not 1 <= k <= m:
        return f"K is the shard to run, from 1 to M = {m} (shards are numbered from 1)"
    return None


# ---- a sharded directory ----------------------------------------------------------------


@dataclass
class Contents:
    """What a directory holds, as shards go."""

    path: Path
    stores: dict[Shard, Path] = field(default_factory=dict)  # the shards' folders
    others: list[str] = field(default_factory=list)  # not shards, plots/ or hidden names
    unsharded: bool = False  # a store (or another output) at the top

    @property
    def counts(self) -> set[int]:
        """The M of the shards there."""
        return {s.count for s in self.stores}

    def names(self) -> str:
        """The shards' folders, in words."""
        return listing([f"{p.name}/" for _, p in sorted(self.stores.items(), key=_order)])


def _order(item) -> tuple[int, int]:
    return item[0].count, item[0].index


def contents(path: Path) -> Contents:
    """The shards in ``path`` (none when it is missing). Hidden names count for nothing:
    they are the shards' locks and temporary names, or what a file system adds (an NFS
    client's ``.nfsNNNN`` files)."""
    found = inspect_dir(out_target(path))
    result = Contents(Path(path))
    for entry in found.entries:
        name = entry.rstrip("/")
        m = SHARD_DIR.fullmatch(name)
        k, n = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        if m and entry.endswith("/") and _problem(k, n) is None:
            result.stores[Shard(k, n)] = Path(path) / name
        elif name in (MANIFEST, DESIGN, "parts"):
            result.unsharded = True
        elif not (name.startswith(".") or (name == _ANALYSIS and entry.endswith("/"))):
            result.others.append(entry)
    return result


def refuse_shards(out: str | Path) -> None:
    """An unsharded batch never goes into a directory of shards (``--force`` or not:
    the shards may be running elsewhere, and their finished runs are never discarded).

    Raises:
        UserError: ``out`` holds shards.
    """
    found = contents(Path(out))
    if found.stores:
        m = min(found.counts)
        raise UserError(
            f"--out {out}: holds the shards of a batch ({found.names()}), not an unsharded "
            f"batch: resume a shard with --shard K/{m}, read them all with "
            f"sim.batch.load({str(out)!r}), or name another --out (--force does not replace "
            "shards; delete the directory to start over)"
        )


def check_shard_out(out: str | Path, shard: Shard) -> Path:
    """Check that shard ``shard`` may be written in ``out``; returns its folder. ``out``
    may be new or empty, or hold shards of the same cut (and ``plots/``, and hidden
    names: the shards' locks and temporary names), never anything else, ``--force`` or
    not.

    Raises:
        UserError: as the checks say (naming the folder and what was expected).
    """
    real = out_target(out)
    if real.exists() and not real.is_dir():
        raise UserError(f"--out {out}: exists and is not a directory; shards need a directory")
    found = contents(Path(out))
    if found.unsharded:
        raise UserError(
            f"--out {out}: holds {inspect_dir(real).describe()}; shards go into a directory "
            f"of their own (each in {shard.name}/ and its siblings): name another --out"
        )
    if found.others:
        raise UserError(
            f"--out {out}: holds {listing(found.others)}, which no shard wrote; a directory "
            "of shards holds only shard-K-of-M/ folders (and plots/): move "
            f"{'it' if len(found.others) == 1 else 'them'} away or name another --out "
            "(--force replaces a shard's own folder only)"
        )
    other = sorted(found.counts - {shard.count})
    if other:
        raise UserError(
            f"--out {out}: holds the shards of a batch cut into {other[0]} ({found.names()}); "
            f"shard {shard} would overlap their runs: use --shard K/{other[0]}, or name another "
            f"--out (or delete {out} to start over)"
        )
    return Path(out) / shard.name


def check_siblings(out: str | Path, shard: Shard, experiment, force: bool) -> None:
    """Refuse to add a shard beside shards of another experiment, unless ``force``
    (which replaces this shard's folder only; the others are replaced when their own
    shards run with ``--force``).

    Raises:
        UserError: a sibling is another experiment's (naming it, and both hashes).
    """
    if force:
        return
    for other, folder in sorted(contents(Path(out)).stores.items(), key=_order):
        exp = _manifest_or_none(folder).get("experiment")
        have = exp.get("content_hash") if isinstance(exp, dict) else None
        if other != shard and isinstance(have, str) and have != experiment.content_hash:
            raise UserError(
                f"--out {out}: {folder.name}/ is a shard of another experiment "
                f"({exp.get('name')!r}, hash {have[:12]}); this one ({experiment.name!r}, hash "
                f"{experiment.content_hash[:12]}) differs in the experiment file or a scenario "
                "it names. A directory holds the shards of one experiment: name another "
                "--out, or add --force to each shard to replace the old ones"
            )


def _manifest_or_none(folder: Path) -> dict:
    """A sibling's manifest, or ``{}`` when it cannot be read (its own run says why)."""
    try:
        return read_manifest(folder)
    except UserError:
        return {}


# ---- reading the shards ------------------------------------------------------------------


@dataclass
class ShardSet:
    """The shards of one batch in a directory, checked to fit together."""

    path: Path
    count: int
    stores: dict[int, Path]  # K -> folder, the shards there
    manifests: dict[int, dict]  # K -> manifest
    missing: list[int]
    unfinished: dict[int, str]  # K -> how far it got

    @property
    def complete(self) -> bool:
        """Every shard is there and finished."""
        return not (self.missing or self.unfinished)

    def problems(self, command: str) -> list[str]:
        """One line per missing or unfinished shard, with the command that completes it."""
        lines, shard_m = [], self.count
        for k in sorted([*self.missing, *self.unfinished]):
            state = "missing" if k in self.missing else f"unfinished ({self.unfinished[k]})"
            verb = "run it" if k in self.missing else "resume it"
            where = self.path / Shard(k, self.count).name
            lines.append(f"shard {k} ({where}): {state}; {verb}: {command} --shard {k}/{shard_m}")
        return lines


def shard_set(path: Path, found: Contents) -> ShardSet:
    """Check the shards in ``path``: of one cut (M), of one experiment (content hash and
    runs), each holding its own block; and see which are missing or unfinished.

    Raises:
        UserError: they do not fit together (naming the folders and what was expected).
    """
    if found.unsharded:
        raise UserError(
            f"{path}: holds both an unsharded batch store ({MANIFEST}, {DESIGN}, parts/) "
            f"and shards ({found.names()}); a directory holds one or the other: move one away"
        )
    if len(found.counts) > 1:
        cuts = " and in ".join(map(str, sorted(found.counts)))
        raise UserError(
            f"{path}: holds shards of batches cut in {cuts} "
            f"({found.names()}); the shards of one batch share M: move the others away"
        )
    count = next(iter(found.counts))
    stores = {s.index: p for s, p in found.stores.items()}
    manifests = {}
    for k, folder in sorted(stores.items()):
        manifest = read_manifest(folder)
        check_manifest(folder, manifest)
        manifests[k] = manifest
    _check_one_experiment(path, manifests, stores, count)
    unfinished = {}
    for k, manifest in manifests.items():
        done = len(part_dirs(stores[k] / "parts")) if (stores[k] / "parts").is_dir() else 0
        if done < manifest["chunks"]:
            unfinished[k] = f"{done} of {manifest['chunks']} chunks finished"
    missing = [k for k in range(1, count + 1) if k not in stores]
    return ShardSet(path, count, stores, manifests, missing, unfinished)


def _check_one_experiment(path: Path, manifests: dict, stores: dict, count: int) -> None:
    """The shards are of one experiment (content hash, runs) and each holds the block its
    name says."""
    sizes = {k: _check_record(stores[k], manifests[k], k, count) for k in sorted(manifests)}
    first = min(manifests)
    want = manifests[first]["experiment"]
    for k, manifest in sorted(manifests.items()):
        exp = manifest["experiment"]
        if exp["content_hash"] != want["content_hash"]:
            raise UserError(
                f"{path}: holds shards of two experiments: {stores[first].name}/ of "
                f"{want.get('name')!r} (hash {want['content_hash'][:12]}) and "
                f"{stores[k].name}/ of {exp.get('name')!r} (hash {exp['content_hash'][:12]}); "
                "a directory holds the shards of one experiment: move the others away"
            )
        if sizes[k] != sizes[first]:
            raise UserError(
                f"{stores[k]}: a shard of a batch of {sizes[k]:,} runs, beside shards of a "
                f"batch of {sizes[first]:,} ({stores[first].name}/): move it away"
            )


def _check_record(folder: Path, manifest: dict, k: int, count: int) -> int:
    """The shard record of ``folder``'s manifest is shard ``k`` of ``count``'s; returns
    the experiment's runs.

    Raises:
        UserError: it records another shard, or none.
    """
    record = manifest.get("shard")
    n_runs = record.get("experiment_runs") if isinstance(record, dict) else None
    shard = Shard(k, count)
    expected = shard.record(n_runs) if isinstance(n_runs, int) and n_runs >= count else None
    if expected is None or record != expected or manifest["runs"] != len(shard.run_ids(n_runs)):
        raise UserError(
            f"{folder}: its manifest records {describe_shard(record)}, not "
            + (describe_shard(expected) if expected else f"shard {k} of {count}")
            + f": renamed or copied from another batch? Move it away and rerun the shard "
            f"with --shard {k}/{count}"
        )
    return n_runs
