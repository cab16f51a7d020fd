"""Shards: ``multivector batch EXP --out DIR --shard K/M`` runs one of M disjoint slices of
an experiment into ``DIR/shard-K-of-M/``; ``sim.batch.load(DIR)`` reads the union, which
is the unsharded batch, table for table.

The experiment is test_batch's small one (the teaching world, two arms, a 2 x 2 grid, 4
replicates: 32 runs, ties kept), so every batch here takes a fraction of a second.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_batch import SMALL, tables, write

import sim.batch
import sim.batch.results
from sim.batch.design import run_table
from sim.batch.lock import lock_path
from sim.batch.shards import Shard
from sim.errors import UserError
from sim.tools.cli import main

N_RUNS = 32


def batch(exp: Path, out: Path, *args: str) -> int:
    """``multivector batch EXP --out OUT ARGS --workers 1 --quiet``: the exit code."""
    return main(["batch", str(exp), "--out", str(out), *args, "--workers", "1", "--quiet"])


def assert_union_is(whole: sim.batch.BatchResult, union: sim.batch.BatchResult) -> None:
    """The union's tables are the whole batch's: rows, values, dtypes (its runs have a
    ``shard`` column more; chunks and wall times are the session's own)."""
    a, b = tables(whole), tables(union)
    b["runs"] = b["runs"].drop(columns=["shard"])
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True, obj=name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The experiment file, the unsharded batch, and a directory of its 3 shards (each
    chunked otherwise than the unsharded batch)."""
    tmp = tmp_path_factory.mktemp("shards")
    exp = write(tmp, SMALL)
    sim.batch.run(exp, tmp / "whole", workers=1, chunk_size=5, progress=False)
    for k in (1, 2, 3):
        assert batch(exp, tmp / "sharded", "--shard", f"{k}/3", "--chunk-size", "3") == 0
    return exp, sim.batch.load(tmp / "whole"), tmp / "sharded"


@pytest.fixture
def sharded(reference, tmp_path) -> Path:
    """A fresh copy of the directory of 3 shards."""
    return Path(shutil.copytree(reference[2], tmp_path / "sharded"))


# ---- slices --------------------------------------------------------------------------


@pytest.mark.parametrize("n_runs,count", [(32, 3), (32, 1), (7, 7), (10, 4), (1001, 8)])
def test_shards_are_the_blocks_of_array_split_disjoint_and_covering(n_runs, count):
    blocks = [Shard(k, count).run_ids(n_runs) for k in range(1, count + 1)]
    for block, want in zip(blocks, np.array_split(np.arange(n_runs), count), strict=True):
        assert list(block) == want.tolist()
    ids = np.concatenate([list(b) for b in blocks])
    np.testing.assert_array_equal(ids, np.arange(n_runs))  # disjoint, covering, in order


@pytest.mark.parametrize("seeds", ["common", "per_point"])
def test_a_shards_run_table_is_the_same_rows_of_the_whole_table(tmp_path, seeds):
    exp = sim.batch.load_experiment(write(tmp_path, SMALL + f"seeds: {seeds}\n"))
    whole = run_table(exp)
    for k in (1, 2, 3):
        ids = Shard(k, 3).run_ids(N_RUNS)
        part = run_table(exp, ids)
        want = whole.iloc[ids.start : ids.stop].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, want, check_exact=True)  # seeds included


# ---- the union is the unsharded batch ------------------------------------------------


def test_the_union_of_three_shards_is_the_unsharded_batch(reference):
    exp, whole, sharded = reference
    union = sim.batch.load(sharded)
    assert_union_is(whole, union)
    assert union.manifest["runs"] == N_RUNS and union.manifest["status"]["ok"] == N_RUNS
    assert union.manifest["shards"] == {
        "count": 3,
        "read": [1, 2, 3],
        "missing": [],
        "unfinished": {},
    }
    for k in (1, 2, 3):  # each shard is a store of its own, holding its block
        folder = sharded / f"shard-{k}-of-3"
        block = Shard(k, 3).run_ids(N_RUNS)
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["shard"] == {
            "index": k,
            "count": 3,
            "run_ids": [block.start, block.stop - 1],
            "experiment_runs": N_RUNS,
        }
        assert (
            manifest["experiment"]["content_hash"] == whole.manifest["experiment"]["content_hash"]
        )
        assert manifest["root_seed"] == 12345
        alone = sim.batch.load(folder)
        assert alone.runs["run_id"].tolist() == list(block)
        assert union.runs.loc[union.runs["shard"] == k, "run_id"].tolist() == list(block)
        assert lock_path(folder) == sharded / f".shard-{k}-of-3.lock"  # a lock of its own
    assert "chunks" not in union.manifest and "shard" not in union.manifest


def test_shards_run_with_other_code_are_read_with_a_warning(reference, sharded):
    manifest_file = sharded / "shard-3-of-3" / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["versions"]["git_commit"] = "0000000"
    manifest_file.write_text(json.dumps(manifest))
    with pytest.warns(UserWarning, match="its shards were run with other code.*git_commit"):
        union = sim.batch.load(sharded)
    assert_union_is(reference[1], union)


def test_one_shard_of_one_is_the_unsharded_batch(reference, tmp_path):
    exp, whole, _ = reference
    assert batch(exp, tmp_path / "one", "--shard", "1/1") == 0
    assert [p.name for p in (tmp_path / "one").iterdir()] == ["shard-1-of-1"]
    assert_union_is(whole, sim.batch.load(tmp_path / "one"))


def test_compare_reads_a_sharded_directory_as_the_batch(reference, tmp_path, capsys):
    exp, whole, _ = reference
    sharded = Path(shutil.copytree(reference[2], tmp_path / "sharded"))
    args = ["--baseline", "base", "--variant", "no_pipeline"]
    args += ["--outcome", "alignment_index SM at 2024-12-31"]
    csvs = []
    for batch_dir in (whole.path, sharded):
        out = tmp_path / f"plots-{batch_dir.name}"
        assert main(["compare", str(batch_dir), *args, "--out", str(out)]) == 0
        csvs.append(pd.read_csv(next(out.glob("compare_*.csv"))))
    pd.testing.assert_frame_equal(csvs[0], csvs[1], check_exact=True)
    # the default folder of the figures, BATCH/plots, sits beside the shards
    assert main(["plot", str(sharded)]) == 0
    assert (sharded / "plots" / "fan_alignment_index.png").is_file()
    capsys.readouterr()
    assert batch(exp, sharded, "--shard", "2/3") == 0  # a shard still resumes beside it
    assert_union_is(whole, sim.batch.load(sharded))


def test_shards_started_together_as_an_array_job_share_a_new_directory(reference, tmp_path):
    """The tasks of an array job start at once, into a directory not made yet: none is
    refused for the others' folders, locks or temporary names."""
    exp, whole, _ = reference
    out = tmp_path / "new" / "runs" / "exp"
    cmd = [sys.executable, "-m", "sim", "batch", str(exp), "--out", str(out)]
    cmd += ["--workers", "1", "--chunk-size", "4", "--quiet"]
    procs = [
        subprocess.Popen([*cmd, "--shard", f"{k}/3"], stderr=subprocess.PIPE, text=True)
        for k in (1, 2, 3)
    ]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert all(code == 0 for code, _ in results), results
    assert sorted(p.name for p in out.iterdir()) == [f"shard-{k}-of-3" for k in (1, 2, 3)]
    assert_union_is(whole, sim.batch.load(out))


# ---- missing, unfinished, mixed ------------------------------------------------------


def test_a_missing_shard_is_named_and_partial_reads_the_others(reference, sharded):
    exp, whole, _ = reference
    shutil.rmtree(sharded / "shard-2-of-3")
    with pytest.raises(UserError) as info:
        sim.batch.load(sharded)
    msg = str(info.value)
    assert "1 of its 3 shards are missing or unfinished" in msg
    assert f"shard 2 ({sharded / 'shard-2-of-3'}): missing" in msg
    assert f"--out {sharded} --shard 2/3" in msg and "partial=True" in msg
    assert "shard 1 (" not in msg and "shard 3 (" not in msg
    with pytest.warns(UserWarning, match="read 2 of 3 shards"):
        part = sim.batch.load(sharded, partial=True)
    assert part.manifest["shards"]["missing"] == [2]
    assert part.manifest["status"] == {"ok": 21, "failed": 0, "pending": 11}
    kept = set(Shard(1, 3).run_ids(N_RUNS)) | set(Shard(3, 3).run_ids(N_RUNS))
    want, got = tables(whole), tables(part)
    got["runs"] = got["runs"].drop(columns=["shard"])
    for name in want:
        rows = want[name][want[name]["run_id"].isin(kept)].reset_index(drop=True)
        pd.testing.assert_frame_equal(rows, got[name], check_exact=True, obj=name)


def test_shards_of_two_experiments_in_one_directory_are_refused(reference, sharded, tmp_path):
    exp = reference[0]
    other = write(tmp_path, SMALL.replace("seed: 12345", "seed: 99"), "other.yaml")
    with pytest.raises(UserError, match="shard-1-of-3/ is a shard of another experiment"):
        sim.batch.run(other, sharded, workers=1, progress=False, shard=(2, 3))
    assert batch(other, tmp_path / "other", "--shard", "2/3") == 0
    shutil.rmtree(sharded / "shard-2-of-3")
    shutil.copytree(tmp_path / "other" / "shard-2-of-3", sharded / "shard-2-of-3")
    with pytest.raises(UserError, match="holds shards of two experiments: shard-1-of-3/"):
        sim.batch.load(sharded)
    with pytest.raises(UserError, match="two experiments"):
        sim.batch.load(sharded, partial=True)  # partial reads what is missing, never a mix
    assert batch(exp, sharded, "--shard", "2/3", "--force") == 0  # replaces its own folder
    assert_union_is(reference[1], sim.batch.load(sharded))


def test_a_directory_of_shards_and_an_unsharded_store_is_refused(reference, sharded, capsys):
    exp, whole, _ = reference
    assert batch(exp, sharded) == 2  # no unsharded batch beside shards, even with --force
    assert batch(exp, sharded, "--force") == 2
    err = capsys.readouterr().err
    assert f"--out {sharded}: holds the shards of a batch (shard-1-of-3/" in err
    assert batch(exp, whole.path, "--shard", "1/3") == 2  # nor shards inside a store
    assert f"--out {whole.path}: holds a batch store" in capsys.readouterr().err
    assert batch(exp, sharded, "--shard", "1/4") == 2  # nor shards of another cut
    assert "shards of a batch cut into 3" in capsys.readouterr().err
    for name in ("manifest.json", "design.parquet"):
        shutil.copy(whole.path / name, sharded / name)
    with pytest.raises(UserError, match="holds both an unsharded batch store"):
        sim.batch.load(sharded)


def test_a_shard_killed_mid_way_resumes_and_completes(reference, sharded, capsys):
    exp, whole, _ = reference
    folder = sharded / "shard-2-of-3"
    shutil.rmtree(folder)
    slow = (
        "import sys, time, sim.batch; sim.batch.run(sys.argv[1], sys.argv[2], workers=1, "
        "chunk_size=2, progress=False, shard=(2, 3), on_chunk=lambda c, b: time.sleep(0.2))"
    )
    proc = subprocess.Popen([sys.executable, "-c", slow, str(exp), str(sharded)])
    deadline = time.monotonic() + 120
    parts = folder / "parts"
    while not (parts.is_dir() and len(list(parts.glob("chunk-*"))) >= 2):
        assert proc.poll() is None and time.monotonic() < deadline, "the shard did not start"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(parts.glob("chunk-*")))
    assert 2 <= done < 6  # 11 runs in chunks of 2
    with pytest.raises(UserError, match=rf"shard 2 \({folder}\): unfinished \({done} of 6"):
        sim.batch.load(sharded)
    assert batch(exp, sharded, "--shard", "2/3") == 0  # the same command resumes it
    before = {p.name: p.stat().st_mtime_ns for p in parts.iterdir()}
    assert main(["batch", str(exp), "--out", str(sharded), "--shard", "2/3", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "shard 2 of 3 (runs 11..21 of 32)" in out and "this session: 0 runs" in out
    assert before == {p.name: p.stat().st_mtime_ns for p in parts.iterdir()}  # nothing rerun
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_union_is(whole, sim.batch.load(sharded))
    assert not lock_path(folder).exists()


# ---- the command line ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text,says",
    [
        ("0/3", "K is the shard to run, from 1 to M = 3"),
        ("4/3", "K is the shard to run, from 1 to M = 3"),
        ("x", "expected K/M (shard K of M, 1 <= K <= M <= 100,000), got 'x'"),
        ("1/0", "M is the number of shards, from 1 to 100,000"),
        ("2/200000", "M is the number of shards, from 1 to 100,000"),
    ],
)
def test_a_bad_shard_is_refused_when_the_command_line_is_read(tmp_path, capsys, text, says):
    with pytest.raises(SystemExit) as info:
        main(["batch", "no-such-file.yaml", "--out", str(tmp_path / "out"), "--shard", text])
    err = capsys.readouterr().err
    assert info.value.code == 2
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1 and "argument --shard: " + says in errors[0], err
    assert not (tmp_path / "out").exists()


def test_more_shards_than_runs_and_bad_python_shards_are_refused(reference, tmp_path):
    exp = reference[0]
    with pytest.raises(UserError, match="has 32 runs, so at most 32 shards"):
        sim.batch.run(exp, tmp_path / "out", progress=False, shard=(1, 33))
    for bad in [(0, 3), (2, 1), ("1", 3), 3, (True, 2)]:
        with pytest.raises(UserError, match="shard="):
            sim.batch.run(exp, tmp_path / "out", progress=False, shard=bad)
    assert not (tmp_path / "out").exists()


def test_other_commands_see_a_directory_of_shards_as_a_batch(reference, sharded, capsys):
    """``run --out`` over shards is refused as over any batch store; with ``--force`` it
    waits for no one but refuses while a shard's batch holds its lock."""
    from sim.batch.lock import StoreLock

    scenario = str(Path(__file__).resolve().parents[1] / "scenarios" / "teaching.yaml")
    assert main(["run", scenario, "--out", str(sharded)]) == 2
    assert "3 shard folders" in capsys.readouterr().err
    with StoreLock(sharded / "shard-2-of-3"):  # a shard's batch is writing
        assert main(["run", scenario, "--out", str(sharded), "--force"]) == 2
    assert "shard-2-of-3" in capsys.readouterr().err
    assert (sharded / "shard-2-of-3").is_dir()


# ---- reading a part of a batch ------------------------------------------------------


def _cut(df: pd.DataFrame, states, dates) -> pd.DataFrame:
    keep = df["state"].astype(str).isin(states) & df["date"].isin(pd.to_datetime(dates))
    return df[keep].reset_index(drop=True)


def test_a_selective_read_is_the_whole_read_cut(reference):
    """States, dates and columns: the same rows and values as reading everything and
    cutting it, of a store and of a directory of shards alike; runs and shocks whole."""
    _, whole, sharded = reference
    dates = sorted(whole.indices["date"].unique())[-3:-1]
    days = [pd.Timestamp(d).date().isoformat() for d in dates]
    for source in (whole.path, sharded):
        part = sim.batch.load(source, states=["SM", "WE"], dates=days, columns="alignment_index")
        want = _cut(whole.indices, ["SM", "WE"], days)
        want = want[[c for c in want.columns if c not in sim.batch.results.INDEX_VALUES]
                    + ["alignment_index"]]  # fmt: skip
        pd.testing.assert_frame_equal(part.indices, want, check_exact=True)
        pd.testing.assert_frame_equal(
            part.ties, _cut(whole.ties, ["SM", "WE"], days), check_exact=True
        )
        assert len(part.runs) == len(whole.runs) and len(part.shocks) == len(whole.shocks)
    one = sim.batch.load(whole.path, states="EA")
    assert set(one.indices["state"].astype(str)) == {"EA"}
    assert list(one.indices.columns) == list(whole.indices.columns)


@pytest.mark.parametrize(
    "kwargs, says",
    [
        ({"states": ["SM", "XX"]}, "states: 'XX' is not a state of this batch"),
        ({"dates": ["2021-02-30"]}, "dates: expected dates as YYYY-MM-DD"),
        ({"dates": ["2021-02-15"]}, "dates: no record of this batch is dated 2021-02-15"),
        ({"columns": ["alignment_idx"]}, "did you mean 'alignment_index'"),
    ],
)
def test_a_selection_the_batch_cannot_meet_is_refused(reference, kwargs, says):
    with pytest.raises(UserError, match=re.escape(says)):
        sim.batch.load(reference[1].path, **kwargs)


def test_a_damaged_part_is_refused_by_a_selective_read_too(reference, tmp_path):
    """The checks run before the cut: a selection never reads a damaged store in part."""
    store = Path(shutil.copytree(reference[1].path, tmp_path / "whole"))
    target = sorted((store / "parts").iterdir())[1] / "indices.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(UserError, match="indices.parquet"):
        sim.batch.load(store, states=["SM"])


# ---- python -m sim.tools.shard_check: the demonstration's check ------------------------

ONE_ARM = """\
name: one arm
scenarios:
  base: TEACHING
replicates: REPS
seed: 7
keep: indices
dates: [2021-12-31, 2023-12-31]
"""


def test_shard_check_finds_the_union_equal_to_unsharded_runs(tmp_path, monkeypatch, capsys):
    """The tool behind the README's million-run demonstration: a sample of runs across
    the shards rerun in one ensemble, and an unsharded batch with fewer replicates, must
    equal the union; a difference in either ends with exit code 1."""
    from sim.tools import shard_check

    exp = write(tmp_path, ONE_ARM.replace("REPS", "30"), "exp.yaml")
    for k in (1, 2, 3):
        assert batch(exp, tmp_path / "sharded", "--shard", f"{k}/3", "--chunk-size", "4") == 0
    prefix = write(tmp_path, ONE_ARM.replace("REPS", "9"), "prefix.yaml")
    assert batch(prefix, tmp_path / "prefix") == 0
    argv = [str(tmp_path / "sharded"), "--sample", "12", "--prefix", str(tmp_path / "prefix")]
    assert shard_check.main(argv) == 0
    out = capsys.readouterr().out
    assert "sample_identical=True" in out and "prefix_identical=True" in out
    assert "sample_shards=3" in out and "runs=30" in out

    other = write(tmp_path, ONE_ARM.replace("REPS", "9").replace("seed: 7", "seed: 8"), "o.yaml")
    assert batch(other, tmp_path / "other") == 0
    argv = [str(tmp_path / "sharded"), "--sample", "12", "--prefix", str(tmp_path / "other")]
    assert shard_check.main(argv) == 1
    assert "prefix_identical=False" in capsys.readouterr().out

    import sim.drivers.ensemble

    real = sim.drivers.ensemble.run_ensemble

    def off_by_a_bit(*args, **kwargs):
        result = real(*args, **kwargs)
        result.indices.loc[5, "utility"] += 1e-15
        return result

    monkeypatch.setattr(sim.drivers.ensemble, "run_ensemble", off_by_a_bit)
    assert shard_check.main([str(tmp_path / "sharded"), "--sample", "12"]) == 1
    assert "sample_identical=False" in capsys.readouterr().out
