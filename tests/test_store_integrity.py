"""A batch store proves its contents: damaged parts are found, refused by ``load`` and
rerun by a resume; a damaged design or manifest is refused; one writer at a time.

Each test damages a copy of one small store (the teaching world, 32 runs in 8 chunks of
4, ties kept) the way an adversarial tester did, and checks that ``sim.batch.load``
refuses it (a ``UserError`` naming the file) and that resuming says what it found,
reruns only that, and gives tables identical to the undamaged store's.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_batch import SMALL, assert_same, write

import sim.batch
from sim.batch.lock import StoreLock, lock_path
from sim.errors import UserError
from sim.tools.cli import main

CHUNK = 3  # the chunk the tests damage (4 runs of the first arm)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The experiment file, the undamaged store, and its tables."""
    tmp = tmp_path_factory.mktemp("reference")
    exp_file = write(tmp, SMALL)
    out = tmp / "store"
    sim.batch.run(exp_file, out, workers=1, chunk_size=4, progress=False)
    return exp_file, out, sim.batch.load(out)


@pytest.fixture
def store(reference, tmp_path):
    """A fresh copy of the reference store."""
    copy = tmp_path / "store"
    shutil.copytree(reference[1], copy)
    return copy


def part(store: Path, chunk: int = CHUNK) -> Path:
    return store / "parts" / f"chunk-{chunk:06d}"


def resume(reference, store: Path, capsys) -> tuple[int, str, str]:
    """``multivector batch EXPERIMENT --out STORE --workers 1``: (exit code, out, err)."""
    code = main(["batch", str(reference[0]), "--out", str(store), "--workers", "1"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def refused(store: Path, *needles: str) -> str:
    """``load`` refuses the store with a message holding every needle; the message."""
    with pytest.raises(UserError) as info:
        sim.batch.load(store)
    msg = str(info.value)
    for needle in needles:
        assert needle in msg, msg
    return msg


# ---- ways of damaging a file ---------------------------------------------------------


def delete(path: Path) -> None:
    path.unlink()


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def zero(path: Path) -> None:
    """Zeroed blocks of the same size (what some file systems leave after a crash)."""
    path.write_bytes(bytes(path.stat().st_size))


def flip(path: Path) -> None:
    """Flip one bit in a data page, one that Parquet still reads, but with other values:
    the first such bit from the middle of the first float (else integer) column's pages."""
    data = path.read_bytes()
    before = pq.read_table(path)
    meta = pq.ParquetFile(path).metadata
    numbers = [
        (not pa.types.is_floating(f.type), i)
        for i, f in enumerate(before.schema)
        if (pa.types.is_floating(f.type) or pa.types.is_integer(f.type)) and f.name != "run_id"
    ]
    j = min(numbers)[1]  # the first float column, else the first integer one
    col = meta.row_group(0).column(j)
    start, end = col.data_page_offset, col.data_page_offset + col.total_compressed_size
    for at in range((start + end) // 2, end):
        for bit in range(8):
            bad = bytearray(data)
            bad[at] ^= 1 << bit
            try:
                after = pq.read_table(pa.BufferReader(bytes(bad)))
            except (pa.ArrowException, OSError):
                continue
            if after.num_rows == before.num_rows and not after.equals(before):
                path.write_bytes(bytes(bad))
                return
    raise AssertionError(f"no silent bit flip in {path}")


# ---- damaged parts: refused by load, repaired by resume ------------------------------

CASES = [
    ("indices.parquet", delete, "missing"),
    ("ties.parquet", delete, "missing"),
    ("shocks.parquet", delete, "missing"),
    ("runs.parquet", delete, "missing"),
    ("ledger.json", delete, "missing"),
    ("indices.parquet", truncate, "damaged ("),
    ("ties.parquet", truncate, "damaged ("),
    ("runs.parquet", truncate, "damaged ("),
    ("indices.parquet", zero, "damaged (checksum)"),
    ("runs.parquet", zero, "damaged (checksum)"),
    ("indices.parquet", flip, "damaged (checksum)"),
    ("ties.parquet", flip, "damaged (checksum)"),
    ("shocks.parquet", flip, "damaged (checksum)"),
]


@pytest.mark.parametrize(
    "name,damage,says", CASES, ids=[f"{d.__name__}-{n.split('.')[0]}" for n, d, _ in CASES]
)
def test_a_damaged_part_is_refused_by_load_and_rerun_by_resume(
    reference, store, capsys, name, damage, says
):
    damage(part(store) / name)
    msg = refused(store, f"{part(store) / name}: {says}", "Resume the batch")
    assert f"multivector batch {reference[0]} --out {store}" in msg
    code, out, err = resume(reference, store, capsys)
    assert code == 0, err
    assert f"chunk {CHUNK}: {name} {says}" in err and ", rerunning" in err, err
    assert "this session: 4 runs" in out and "repaired: 1" in out
    assert_same(reference[2], sim.batch.load(store))
    manifest = json.loads((store / "manifest.json").read_text())
    assert any(f"chunk {CHUNK}: {name}" in r for r in manifest["sessions"][-1]["repaired"])


def test_a_bit_flip_parquet_reads_silently_is_caught(reference, store):
    """Without the ledger this flip would change values and nothing would say so."""
    path = part(store) / "indices.parquet"
    good = pq.read_table(path)
    flip(path)
    assert pq.read_table(path).num_rows == good.num_rows  # Parquet reads it...
    assert not pq.read_table(path).equals(good)  # ...with other values
    refused(store, f"{path}: damaged (checksum)")


def test_a_chunk_copied_over_another_is_detected(reference, store, capsys):
    shutil.rmtree(part(store, 5))
    shutil.copytree(part(store, 1), part(store, 5))
    refused(store, f"{part(store, 5) / 'ledger.json'}: is chunk 1's")
    code, _, err = resume(reference, store, capsys)
    assert code == 0 and "chunk 5: ledger.json is chunk 1's" in err, err
    res = sim.batch.load(store)
    assert res.runs["run_id"].is_unique and len(res.runs) == 32
    assert_same(reference[2], res)


@pytest.mark.parametrize("name", ["chunk-000008", "chunk-0000001"])
def test_a_chunk_copied_under_a_name_the_design_lacks_is_detected(reference, store, capsys, name):
    """The tester's 610 runs of 600: a part copied beside the others."""
    shutil.copytree(part(store, 1), store / "parts" / name)
    refused(store, f"{store / 'parts' / name}: not a chunk of this batch")
    code, _, err = resume(reference, store, capsys)
    assert code == 0 and f"{name}: not a chunk of this batch" in err and "removed" in err
    assert not (store / "parts" / name).exists()
    res = sim.batch.load(store)
    assert len(res.runs) == 32 and not res.indices.duplicated(["run_id", "step", "state"]).any()
    assert_same(reference[2], res)


def test_a_deleted_chunk_of_a_finished_batch_is_missing_not_pending(reference, store, capsys):
    shutil.rmtree(part(store))
    refused(store, f"{part(store)}: missing (design.parquet records it finished)")
    code, out, err = resume(reference, store, capsys)
    assert code == 0 and f"chunk {CHUNK}: missing" in err and "this session: 4 runs" in out
    assert_same(reference[2], sim.batch.load(store))


def test_a_missing_parts_directory_is_refused_then_rerun(reference, store, capsys):
    shutil.rmtree(store / "parts")
    refused(store, f"{store / 'parts'}: missing", "rerun the batch")
    code, out, err = resume(reference, store, capsys)
    assert code == 0 and "parts: missing, running every chunk again" in err
    assert "this session: 32 runs" in out
    assert_same(reference[2], sim.batch.load(store))


# ---- what cannot be repaired: the design and the manifest ----------------------------


@pytest.mark.parametrize("damage,says", [(delete, "missing"), (flip, "damaged (its checksum")])
def test_a_damaged_design_is_refused_naming_it(reference, store, capsys, damage, says):
    damage(store / "design.parquet")
    msg = refused(store, f"{store / 'design.parquet'}: {says}", "cannot be repaired")
    assert "--out NEW_DIR" in msg
    code, _, err = resume(reference, store, capsys)
    assert code == 2 and f"design.parquet: {says}" in err and "Traceback" not in err


def test_a_damaged_manifest_is_refused_naming_it(reference, store, capsys):
    manifest = store / "manifest.json"
    text = manifest.read_text()
    manifest.write_text(text[: len(text) // 2])
    refused(store, f"{manifest}: cannot read the batch manifest", "cannot be repaired")
    code, _, err = resume(reference, store, capsys)
    assert code == 2 and "manifest.json" in err and "Traceback" not in err
    fields = json.loads(text)
    del fields["runs"]
    manifest.write_text(json.dumps(fields))
    refused(store, f"{manifest}: damaged (no valid runs)")
    manifest.unlink()
    refused(store, f"{manifest}: missing", "cannot be repaired")
    code, _, err = resume(reference, store, capsys)
    assert code == 2 and "manifest.json" in err and "Traceback" not in err


def test_a_crash_while_the_design_is_rewritten_leaves_a_store_that_verifies(
    tmp_path, capsys, monkeypatch
):
    """The session's end writes the manifest (accepting the old and the new design's
    checksums), then the design; a crash between the two must not look like damage."""
    import sim.batch.store as store_module

    real = store_module.atomic_file

    def crash_at_design(path):
        if path.name == "design.parquet":
            raise KeyboardInterrupt  # as if killed here
        return real(path)

    exp_file = write(tmp_path, SMALL.replace("replicates: 4", "replicates: 1"))
    out = tmp_path / "out"
    monkeypatch.setattr(store_module, "atomic_file", crash_at_design)
    with pytest.raises(KeyboardInterrupt):
        sim.batch.run(exp_file, out, workers=1, chunk_size=4, progress=False)
    monkeypatch.undo()
    design = json.loads((out / "manifest.json").read_text())["ledger"]["design"]
    assert "previous_sha256" in design  # the design on disk is the old one (all pending)
    res = sim.batch.load(out)
    assert (res.runs["status"] == "ok").all() and len(res.runs) == 8
    code = main(["batch", str(exp_file), "--out", str(out), "--workers", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 0 and "rerunning" not in err and "damaged" not in err, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert "previous_sha256" not in manifest["ledger"]["design"]
    res = sim.batch.load(out)
    assert (res.runs["status"] == "ok").all() and len(res.runs) == 8


# ---- stores of earlier versions (no ledger) ------------------------------------------


def test_a_store_without_ledgers_loads_with_a_warning_and_resume_adds_them(
    reference, store, capsys
):
    for ledger in (store / "parts").glob("chunk-*/ledger.json"):
        ledger.unlink()
    fields = json.loads((store / "manifest.json").read_text())
    del fields["ledger"]
    (store / "manifest.json").write_text(json.dumps(fields))
    with pytest.warns(UserWarning, match="without checksums"):
        assert_same(reference[2], sim.batch.load(store))
    # what can be checked without checksums still is: counts and run ids
    (part(store, 5) / "indices.parquet").unlink()
    refused(store, "chunk-000005/indices.parquet: missing (the chunk has 4 runs that ended ok)")
    shutil.rmtree(part(store, 6))
    shutil.copytree(part(store, 1), part(store, 6))
    refused(store, "chunk-000006/runs.parquet: holds 4 runs that are not the 4 runs")
    code, out, err = resume(reference, store, capsys)
    assert code == 0 and "this session: 8 runs" in out, err
    assert "chunk 5: indices.parquet missing" in err and "chunk 6: runs.parquet holds" in err
    assert "added their checksums" in err
    assert len(list((store / "parts").glob("chunk-*/ledger.json"))) == 8
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_same(reference[2], sim.batch.load(store))


# ---- one writer at a time ------------------------------------------------------------


def slow_batch(exp_file: Path, out: Path) -> subprocess.Popen:
    """A batch in another process, slowed after each stored chunk, once it holds the
    lock and has stored a chunk."""
    slow = (
        "import sys, time, sim.batch; sim.batch.run(sys.argv[1], sys.argv[2], workers=1, "
        "chunk_size=2, progress=False, on_chunk=lambda c, b: time.sleep(0.2))"
    )
    proc = subprocess.Popen([sys.executable, "-c", slow, str(exp_file), str(out)])
    deadline = time.monotonic() + 120
    while not (out / "parts").is_dir() or not any((out / "parts").glob("chunk-*")):
        assert proc.poll() is None and time.monotonic() < deadline, "the batch did not start"
        time.sleep(0.02)
    return proc


def test_a_second_batch_on_the_same_store_is_refused_naming_the_holder(reference, tmp_path, capsys):
    out = tmp_path / "busy"
    proc = slow_batch(reference[0], out)
    try:
        code = main(["batch", str(reference[0]), "--out", str(out), "--workers", "1"])
        err = capsys.readouterr().err
        assert code == 2 and "another batch is writing this store" in err, err
        assert f"process {proc.pid} on {socket.gethostname()}, started 20" in err
        assert "Traceback" not in err
        with pytest.raises(UserError, match=f"process {proc.pid}"):
            sim.batch.run(reference[0], out, workers=1, progress=False)
    finally:
        proc.send_signal(signal.SIGKILL)  # the lock dies with its holder
        proc.wait()
    assert lock_path(out).exists()  # left behind by the killed holder, but not held
    code, _, err = resume(reference, out, capsys)
    assert code == 0, err
    assert not lock_path(out).exists()
    assert_same(reference[2], sim.batch.load(out))
    assert [p.name for p in (out / "parts").iterdir() if p.name.startswith(".")] == []


def test_two_batches_started_together_one_runs_the_other_is_refused_or_resumes(reference, tmp_path):
    """The tester's race (a crash in 4 of 6 tries): now each gets the store whole, or
    exit 2 naming the other."""
    out = tmp_path / "race"
    cmd = [sys.executable, "-m", "sim", "batch", str(reference[0]), "--out", str(out)]
    cmd += ["--workers", "1", "--chunk-size", "4", "--quiet"]
    procs = [
        subprocess.Popen(cmd, cwd=tmp_path, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert sorted(code for code, _ in results)[0] == 0, results
    for code, err in results:
        assert code in (0, 2) and "Traceback" not in err, err
        if code == 2:
            other = next(p.pid for p in procs if f"process {p.pid} on" in err)
            assert "another batch is writing this store" in err and other, err
    assert_same(reference[2], sim.batch.load(out))


def test_the_lock_is_held_for_the_whole_batch_and_released_after(reference, store):
    seen = []

    def check(chunk, backend):
        with pytest.raises(UserError, match=f"process {os.getpid()} on"):
            StoreLock(store).acquire()
        seen.append(chunk)

    shutil.rmtree(part(store))
    sim.batch.run(reference[0], store, workers=1, progress=False, on_chunk=check)
    assert seen == [CHUNK] and not lock_path(store).exists()
    with StoreLock(store):  # free again
        assert json.loads(lock_path(store).read_text())["pid"] == os.getpid()


def test_resume_keeps_the_temporary_files_of_a_live_process(reference, store, capsys):
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    try:
        mine = store / "parts" / f".chunk-000003.tmp-{live.pid}-0badc0de"
        gone = store / "parts" / f".chunk-000004.tmp-{dead.pid}-0badc0de"
        for tmp in (mine, gone):
            tmp.mkdir()
            (tmp / "runs.parquet").write_bytes(b"half written")
        code, _, err = resume(reference, store, capsys)
        assert code == 0, err
        assert mine.is_dir() and not gone.exists()
    finally:
        live.kill()
        live.wait()
    assert_same(reference[2], sim.batch.load(store))


# ---- a sound store -------------------------------------------------------------------


def test_every_part_has_a_ledger_that_matches_its_files(reference):
    out = reference[1]
    manifest = json.loads((out / "manifest.json").read_text())
    design = manifest["ledger"]["design"]
    assert design["rows"] == 32 and "previous_sha256" not in design
    assert hashlib.sha256((out / "design.parquet").read_bytes()).hexdigest() == design["sha256"]
    for d in sorted((out / "parts").glob("chunk-*")):
        ledger = json.loads((d / "ledger.json").read_text())
        assert ledger["chunk"] == int(d.name.split("-")[1]) and ledger["runs"] == 4
        names = {p.name for p in d.iterdir()} - {"ledger.json"}
        assert set(ledger["files"]) == names
        for name, entry in ledger["files"].items():
            data = (d / name).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"]
            assert pq.read_metadata(d / name).num_rows == entry["rows"]
            assert len(data) == entry["bytes"]
    assert re.fullmatch(r"[0-9a-f]{64}", design["sha256"])
