"""Outputs never destroy work, failures leave nothing behind, arguments are bounded.

Each failure an adversarial tester found is reproduced here and now ends with exit 2, a
clear message and the earlier output untouched: ``--out`` over a batch store or beside a
stray file, a symbolic link ``--out``, a full disk, a file-size limit, a read-only or
busy directory, numbers far too large, designs far too big. Everything runs the small
teaching world in process, except the file-size limit (``ulimit -f`` needs its own
process). The disk tests mount a small tmpfs (they run as root, where permission bits do
not stop writes); where mounting is not allowed they are skipped, saying so.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from sim.batch.design import MAX_RUNS, run_table
from sim.errors import UserError
from sim.tools import cli

ROOT = Path(__file__).resolve().parents[1]
TEACHING = ROOT / "scenarios" / "teaching.yaml"
RUN_FILES = {"ties.parquet", "indices.parquet", "manifest.json", "alignment.png"}
ENSEMBLE_FILES = {"indices.parquet", "shocks.parquet", "manifest.json", "alignment.png"}

EXPERIMENT = f"""\
name: safety
scenarios:
  base: {TEACHING}
  no_pipeline: {{scenario: {TEACHING}, shocks_off: [pipeline]}}
replicates: 2
seed: 7
"""


# ---- helpers ---------------------------------------------------------------------------


@pytest.fixture
def main(monkeypatch, capsys):
    """``cli.main(argv)`` in process; returns (exit code, stdout, stderr)."""
    monkeypatch.delenv("MULTIVECTOR_DEBUG", raising=False)

    def call(*argv) -> tuple[int, str, str]:
        try:
            rc = cli.main([str(a) for a in argv])
        except SystemExit as exc:  # argparse
            rc = exc.code
        out, err = capsys.readouterr()
        return rc, out, err

    return call


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and directory (None) under ``directory``, by relative path."""
    return {
        str(p.relative_to(directory)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(directory.rglob("*"))
    }


def hidden(directory: Path) -> list[str]:
    """Hidden entries (temporaries, renamed-aside outputs) left in ``directory``."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def refused(rc: int, err: str, *fragments: str) -> None:
    assert rc == 2, err
    assert err.startswith("error: ") and "Traceback" not in err and "internal error" not in err
    for frag in fragments:
        assert frag in err, f"{frag!r} not in:\n{err}"


def batch_args(exp: Path, out: Path, *more) -> list:
    return ["batch", exp, "--out", out, "--workers", "1", "--chunk-size", "4", "--quiet", *more]


@pytest.fixture(scope="module")
def finished_batch(tmp_path_factory) -> tuple[Path, Path]:
    """A finished batch store of EXPERIMENT (4 runs) and its experiment file."""
    d = tmp_path_factory.mktemp("store")
    exp = d / "exp.yaml"
    exp.write_text(EXPERIMENT)
    assert cli.main([str(a) for a in batch_args(exp, d / "store")]) == 0
    return d / "store", exp


@pytest.fixture
def store(finished_batch, tmp_path) -> tuple[Path, Path]:
    """A copy of the finished batch (to be written over) and its experiment file."""
    src, exp = finished_batch
    dst = tmp_path / "store"
    shutil.copytree(src, dst, symlinks=True)
    return dst, exp


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "4m"):
    """A tmpfs of ``size`` mounted at ``path`` (skips the test where mounting is denied)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root and mount(8) to make a small or read-only file system")
    path.mkdir(exist_ok=True)
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not allowed here: {res.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


# ---- 1. never destroy what a command did not make ---------------------------------------


@pytest.mark.parametrize("extra", [(), ("--replicates", "3")], ids=["run", "replicates"])
def test_run_over_a_batch_store_is_refused_and_the_store_kept(main, store, extra):
    out, _ = store
    before = snapshot(out)
    rc, _, err = main("run", TEACHING, "--out", out, "--quiet", *extra)
    refused(rc, err, "batch store", "experiment 'safety'", "--force")
    assert snapshot(out) == before
    assert hidden(out.parent) == []


@pytest.mark.parametrize("extra", [(), ("--replicates", "3")], ids=["run", "replicates"])
def test_a_stray_file_beside_a_manifest_is_refused_and_kept(main, tmp_path, extra):
    out = tmp_path / "out"
    assert main("run", TEACHING, "--out", out, "--quiet", *extra)[0] == 0
    (out / "notes.txt").write_text("my notes", encoding="utf-8")
    before = snapshot(out)
    rc, _, err = main("run", TEACHING, "--out", out, "--quiet", "--seed", "5", *extra)
    refused(rc, err, "notes.txt", "would be lost", "--force")
    assert snapshot(out) == before


def test_a_rerun_of_the_same_kind_replaces_it(main, tmp_path):
    out = tmp_path / "out"
    assert main("run", TEACHING, "--out", out, "--quiet", "--seed", "1")[0] == 0
    assert main("run", TEACHING, "--out", out, "--quiet", "--seed", "2")[0] == 0
    assert {p.name for p in out.iterdir()} == RUN_FILES
    assert json.loads((out / "manifest.json").read_text())["seed"] == 2
    ens = tmp_path / "ens"
    assert (
        main("run", TEACHING, "--out", ens, "--quiet", "--replicates", "2", "--keep", "ties")[0]
        == 0
    )
    assert "ties.parquet" in {p.name for p in ens.iterdir()}
    assert main("run", TEACHING, "--out", ens, "--quiet", "--replicates", "3")[0] == 0
    assert {p.name for p in ens.iterdir()} == ENSEMBLE_FILES  # no stale ties table
    assert json.loads((ens / "manifest.json").read_text())["replicates"] == 3
    assert hidden(tmp_path) == []


def test_force_replaces_a_batch_store_or_a_folder_of_files(main, store, tmp_path):
    out, _ = store
    assert main("run", TEACHING, "--out", out, "--quiet", "--force")[0] == 0
    assert {p.name for p in out.iterdir()} == RUN_FILES
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "a.txt").write_text("a", encoding="utf-8")
    rc, _, err = main("run", TEACHING, "--out", mine, "--quiet", "--replicates", "2")
    refused(rc, err, "not the output of an earlier run --replicates", "a.txt", "--force")
    assert main("run", TEACHING, "--out", mine, "--quiet", "--replicates", "2", "--force")[0] == 0
    assert {p.name for p in mine.iterdir()} == ENSEMBLE_FILES
    assert hidden(tmp_path) == []


def test_an_output_of_another_kind_is_refused(main, tmp_path):
    run_out, ens_out = tmp_path / "run", tmp_path / "ens"
    assert main("run", TEACHING, "--out", run_out, "--quiet")[0] == 0
    assert main("run", TEACHING, "--out", ens_out, "--quiet", "--replicates", "2")[0] == 0
    before = snapshot(tmp_path)
    rc, _, err = main("run", TEACHING, "--out", run_out, "--quiet", "--replicates", "2")
    refused(rc, err, "the output of a run", "seed 0", "--force")
    rc, _, err = main("run", TEACHING, "--out", ens_out, "--quiet")
    refused(rc, err, "an ensemble", "2 replicates", "--force")
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT)
    rc, _, err = main(*batch_args(exp, run_out))
    refused(rc, err, "the output of a run", "not the output of an earlier batch", "--force")
    after = snapshot(tmp_path)
    del after["exp.yaml"]
    assert after == before


def test_every_manifest_records_its_kind(main, store, tmp_path):
    out, _ = store
    assert json.loads((out / "manifest.json").read_text())["kind"] == "batch"
    assert main("run", TEACHING, "--out", tmp_path / "r", "--quiet")[0] == 0
    assert json.loads((tmp_path / "r" / "manifest.json").read_text())["kind"] == "run"
    assert main("run", TEACHING, "--out", tmp_path / "e", "--quiet", "--replicates", "2")[0] == 0
    assert json.loads((tmp_path / "e" / "manifest.json").read_text())["kind"] == "ensemble"
    # the analysis directory's: test_plot_does_not_overwrite_figures_made_with_other_arguments


def test_outputs_of_earlier_versions_are_recognised_by_their_fields(main, tmp_path):
    """No ``kind`` (written before it existed): a run is recognised by seed and
    resolved_parameters, an ensemble by replicates and steps_recorded."""
    out, ens = tmp_path / "old_run", tmp_path / "old_ens"
    assert main("run", TEACHING, "--out", out, "--quiet")[0] == 0
    assert main("run", TEACHING, "--out", ens, "--quiet", "--replicates", "2")[0] == 0
    for d in (out, ens):
        m = json.loads((d / "manifest.json").read_text())
        del m["kind"]
        (d / "manifest.json").write_text(json.dumps(m))
    assert main("run", TEACHING, "--out", out, "--quiet", "--seed", "4")[0] == 0  # same kind
    assert json.loads((out / "manifest.json").read_text())["kind"] == "run"
    rc, _, err = main("run", TEACHING, "--out", ens, "--quiet")
    refused(rc, err, "an ensemble", "made by an earlier version", "--force")


# ---- the analysis commands ---------------------------------------------------------------


def test_plot_does_not_overwrite_figures_made_with_other_arguments(main, store):
    out, _ = store
    plots = out / "plots"
    assert main("plot", out)[0] == 0
    assert main("compare", out, "--baseline", "base", "--variant", "no_pipeline")[0] == 0
    assert json.loads((plots / "manifest.json").read_text())["kind"] == "analysis"
    before = snapshot(plots)
    rc, _, err = main("plot", out, "--state", "SM")
    refused(rc, err, "fan_alignment_index.png", "made by plot (no options", "--state SM")
    assert snapshot(plots) == before
    assert main("plot", out, "--state", "SM", "--force")[0] == 0
    files = json.loads((plots / "manifest.json").read_text())["files"]
    assert files["fan_alignment_index.png"]["arguments"]["state"] == ["SM"]
    assert files["compare_base_vs_no_pipeline__alignment_index.csv"]["command"] == "compare"
    csv = "compare_base_vs_no_pipeline__alignment_index.csv"
    assert (plots / csv).read_bytes() == before[csv]
    assert hidden(plots) == []


def test_compare_keeps_its_earlier_table_made_with_other_arguments(main, store):
    out, _ = store
    cmp = ("compare", out, "--baseline", "base", "--variant", "no_pipeline")
    csv = out / "plots" / "compare_base_vs_no_pipeline__alignment_index.csv"
    assert main(*cmp)[0] == 0
    assert main(*cmp)[0] == 0  # the same arguments: the same measure, rewritten
    table = csv.read_bytes()
    # another index is another outcome, with a file of its own (it used to overwrite)
    assert main(*cmp, "--index", "hedging_index")[0] == 0
    assert (out / "plots" / "compare_base_vs_no_pipeline__hedging_index.csv").is_file()
    assert csv.read_bytes() == table
    # the same file name with other arguments (another date) is refused
    rc, stdout, err = main(*cmp, "--date", "2022-12-31")
    refused(rc, err, csv.name, "--force")
    assert stdout == ""  # refused before anything is printed
    assert csv.read_bytes() == table
    assert main(*cmp, "--date", "2022-12-31", "--force")[0] == 0
    assert csv.read_bytes() != table


def test_earlier_plots_without_a_manifest_need_force(main, store):
    """An earlier version wrote BATCH/plots without a manifest: its files are recognised
    by their names, and not replaced (their arguments are unknown) without --force."""
    out, _ = store
    plots = out / "plots"
    plots.mkdir()
    (plots / "fan_alignment_index.png").write_bytes(b"old figure")
    rc, _, err = main("plot", out)
    refused(rc, err, "fan_alignment_index.png", "no analysis command recorded", "--force")
    assert (plots / "fan_alignment_index.png").read_bytes() == b"old figure"
    assert main("plot", out, "--force")[0] == 0
    assert (plots / "fan_alignment_index.png").read_bytes()[:4] == b"\x89PNG"


def test_analysis_out_of_another_kind_or_the_batch_itself(main, store, tmp_path):
    out, _ = store
    run_out = tmp_path / "run"
    assert main("run", TEACHING, "--out", run_out, "--quiet")[0] == 0
    before = snapshot(run_out)
    cmp = ("compare", out, "--baseline", "base", "--variant", "no_pipeline")
    rc, _, err = main(*cmp, "--out", run_out)
    refused(rc, err, "the output of a run", "--force")
    assert snapshot(run_out) == before
    assert main(*cmp, "--out", run_out, "--force")[0] == 0
    assert {p.name for p in run_out.iterdir()} == {  # replaced as a whole
        "compare_base_vs_no_pipeline__alignment_index.png",
        "compare_base_vs_no_pipeline__alignment_index.csv",
        "manifest.json",
    }
    store_before = snapshot(out)
    for extra in ((), ("--force",)):  # never the batch it reads, even with --force
        rc, _, err = main("plot", out, "--out", out, *extra)
        refused(rc, err, "which this command reads")
        rc, _, err = main("plot", out, "--out", out.parent, *extra)
        refused(rc, err, "which this command reads")
    assert snapshot(out) == store_before


# ---- the batch's own --out ---------------------------------------------------------------


def test_force_never_replaces_a_batch_that_is_being_written(main, store, tmp_path):
    from sim.batch.lock import StoreLock

    out, exp = store
    before = snapshot(out)
    other = tmp_path / "other.yaml"
    other.write_text(EXPERIMENT.replace("seed: 7", "seed: 8"))
    with StoreLock(out):  # as a running batch holds it
        for argv in (
            ("run", TEACHING, "--out", out, "--quiet", "--force"),
            batch_args(other, out, "--force"),
        ):
            rc, _, err = main(*argv)
            refused(rc, err, "another batch is writing this store")
    assert snapshot(out) == before


def test_batch_of_another_experiment_is_replaced_only_with_force(main, store, tmp_path):
    out, _ = store
    other = tmp_path / "other.yaml"
    other.write_text(EXPERIMENT.replace("seed: 7", "seed: 8"))
    before = snapshot(out)
    rc, _, err = main(*batch_args(other, out))
    refused(rc, err, "different experiment", "--force")
    assert snapshot(out) == before
    assert main(*batch_args(other, out, "--force")) == (0, "", "")
    m = json.loads((out / "manifest.json").read_text())
    assert m["root_seed"] == 8 and m["kind"] == "batch"
    assert hidden(tmp_path) == []


def test_python_batch_run_honours_force_as_the_command_does(store, tmp_path):
    """``sim.batch.run(..., force=True)`` replaces another experiment's batch, as
    ``multivector batch --force`` does; without it the same refusal."""
    import sim.batch

    out, _ = store
    other = tmp_path / "other.yaml"
    other.write_text(EXPERIMENT.replace("seed: 7", "seed: 8"))
    before = snapshot(out)
    with pytest.raises(UserError, match="different experiment"):
        sim.batch.run(other, out, workers=1, progress=False)
    assert snapshot(out) == before
    sim.batch.run(other, out, workers=1, progress=False, force=True)
    assert json.loads((out / "manifest.json").read_text())["root_seed"] == 8
    assert hidden(tmp_path) == []


def test_batch_force_resumes_the_same_experiment(main, store):
    out, exp = store
    parts = {p.name: p.stat().st_mtime_ns for p in (out / "parts").iterdir()}
    assert main(*batch_args(exp, out, "--force"))[0] == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "parts").iterdir()} == parts


def test_batch_force_that_fails_before_starting_puts_the_output_back(main, tmp_path):
    out = tmp_path / "run"
    assert main("run", TEACHING, "--out", out, "--quiet")[0] == 0
    before = snapshot(out)
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT)
    args = ["batch", exp, "--out", out, "--force", "--quiet"]
    rc, _, err = main(*args, "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "1")
    assert rc == 2, err
    assert snapshot(out) == before
    assert hidden(tmp_path) == []


def test_batch_over_files_of_your_own(main, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "data.csv").write_text("1,2", encoding="utf-8")
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT)
    rc, _, err = main(*batch_args(exp, mine))
    refused(rc, err, "not the output of an earlier batch", "data.csv", "--force")
    assert (mine / "data.csv").read_text(encoding="utf-8") == "1,2"
    rc, _, err = main(*batch_args(exp, mine.parent / "exp.yaml", "--force"))
    refused(rc, err, "not a directory")


# ---- 2. symbolic links and atomic replacement ------------------------------------------------


def test_out_a_symlink_replaces_its_target_and_leaves_nothing(main, tmp_path):
    target = tmp_path / "target"
    link = tmp_path / "link"
    assert main("run", TEACHING, "--out", target, "--quiet", "--seed", "1")[0] == 0
    link.symlink_to(target)
    assert main("run", TEACHING, "--out", link, "--quiet", "--seed", "2")[0] == 0
    assert link.is_symlink() and link.resolve() == target
    assert json.loads((target / "manifest.json").read_text())["seed"] == 2
    assert {p.name for p in target.iterdir()} == RUN_FILES
    assert hidden(tmp_path) == []
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "later")
    assert main("run", TEACHING, "--out", dangling, "--quiet")[0] == 0
    assert {p.name for p in (tmp_path / "later").iterdir()} == RUN_FILES
    afile = tmp_path / "afile"
    afile.write_text("keep", encoding="utf-8")
    (tmp_path / "to_file").symlink_to(afile)
    rc, _, err = main("run", TEACHING, "--out", tmp_path / "to_file", "--quiet")
    refused(rc, err, "not a directory", "symbolic link")
    assert afile.read_text(encoding="utf-8") == "keep"


def test_a_symlink_to_a_batch_store_is_refused(main, store, tmp_path):
    out, _ = store
    link = tmp_path / "link"
    link.symlink_to(out)
    before = snapshot(out)
    rc, _, err = main("run", TEACHING, "--out", link, "--quiet")
    refused(rc, err, "batch store")
    assert snapshot(out) == before and link.is_symlink()


def test_a_failure_while_writing_leaves_the_earlier_output_as_it_was(main, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert main("run", TEACHING, "--out", out, "--quiet")[0] == 0
    before = snapshot(out)

    def disk_full(fig, path, dpi=120):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("sim.outputs.run_files.write_figure", disk_full)
    rc, _, err = main("run", TEACHING, "--out", out, "--quiet", "--seed", "9")
    refused(rc, err, str(out), "no space left on device", "ENOSPC", "earlier output")
    assert snapshot(out) == before
    assert hidden(tmp_path) == []
    rc, _, err = main("run", TEACHING, "--out", tmp_path / "new", "--quiet")
    refused(rc, err, "ENOSPC", "nothing was written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# ---- 3. every OSError: one clear message, exit 2 ------------------------------------------


def _multivector() -> str:
    exe = Path(sys.executable).parent / "multivector"
    return str(exe) if exe.exists() else f"{sys.executable} -m sim"


def test_a_file_size_limit_ulimit_f(tmp_path):
    """``ulimit -f 50`` (in its own process): the 90 KB figure cannot be written (EFBIG);
    exit 2 and a message, nothing half-written, the earlier output kept."""
    out = tmp_path / "out"
    assert cli.main(["run", str(TEACHING), "--out", str(out), "--quiet"]) == 0
    before = snapshot(out)
    cmd = f"ulimit -f 50; {_multivector()} run {TEACHING} --out {out} --quiet --seed 3"
    env = {k: v for k, v in os.environ.items() if k != "MULTIVECTOR_DEBUG"}
    res = subprocess.run(
        ["bash", "-c", cmd], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    assert res.returncode == 2, res.stderr
    for frag in ("file too large", "EFBIG", str(out), "earlier output there is unchanged"):
        assert frag in res.stderr, res.stderr
    assert "internal error" not in res.stderr and "Traceback" not in res.stderr
    assert snapshot(out) == before and hidden(tmp_path) == []


def test_a_full_disk(main, tmp_path):
    with tmpfs(tmp_path / "small", size="64k") as small:
        rc, _, err = main("run", TEACHING, "--out", small / "out", "--quiet")
        refused(rc, err, "no space left on device", "ENOSPC", "nothing was written")
        assert list(small.iterdir()) == []


def test_a_read_only_file_system(main, tmp_path):
    with tmpfs(tmp_path / "ro") as ro:
        assert main("run", TEACHING, "--out", ro / "out", "--quiet")[0] == 0
        before = snapshot(ro)
        res = subprocess.run(["mount", "-o", "remount,ro", str(ro)], capture_output=True)
        if res.returncode != 0:
            pytest.skip(f"cannot remount read-only: {res.stderr!r}")
        rc, _, err = main("run", TEACHING, "--out", ro / "out", "--quiet", "--seed", "2")
        refused(rc, err, "read-only file system", "EROFS", str(ro))
        assert snapshot(ro) == before


def test_a_busy_out_a_mount_point(main, tmp_path):
    with tmpfs(tmp_path / "busy") as busy:
        rc, _, err = main("run", TEACHING, "--out", busy, "--quiet")
        refused(rc, err, "busy", "EBUSY", str(busy))
        assert list(busy.iterdir()) == []
    assert hidden(tmp_path) == []


def test_an_immutable_parent(main, tmp_path):
    """``chattr +i``: even root cannot create entries (EPERM); removed again at once."""
    parent = tmp_path / "frozen"
    parent.mkdir()
    if not shutil.which("chattr"):
        pytest.skip("chattr is not installed")
    if subprocess.run(["chattr", "+i", str(parent)], capture_output=True).returncode != 0:
        pytest.skip("this file system does not support the immutable attribute")
    try:
        rc, _, err = main("run", TEACHING, "--out", parent / "out", "--quiet")
    finally:
        subprocess.run(["chattr", "-i", str(parent)], check=True)
    refused(rc, err, "cannot write in", str(parent))
    assert list(parent.iterdir()) == []


def test_an_os_error_anywhere_is_a_message_not_a_bug(main, tmp_path, monkeypatch):
    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", "/some/scenario.yaml")

    monkeypatch.setattr("sim.scenario.load_scenario", denied)
    rc, _, err = main("run", TEACHING, "--out", tmp_path / "o", "--quiet")
    refused(rc, err, "/some/scenario.yaml", "permission denied", "EACCES")


def test_a_name_too_long(main, tmp_path):
    rc, _, err = main("run", TEACHING, "--out", tmp_path / ("n" * 240), "--quiet")
    refused(rc, err, "the name is 240 bytes long")
    assert list(tmp_path.iterdir()) == []


# ---- 4. bounded arguments ------------------------------------------------------------------

BIG = "1" + "0" * 400


@pytest.mark.parametrize(
    "argv, flag",
    [
        (("run", TEACHING, "--out", "o", "--replicates", "1000000000"), "--replicates"),
        (("run", TEACHING, "--out", "o", "--replicates", BIG), "--replicates"),
        (("run", TEACHING, "--out", "o", "--replicates", "1e400"), "--replicates"),
        (("run", TEACHING, "--out", "o", "--seed", BIG), "--seed"),
        (("run", TEACHING, "--out", "o", "--seed", "1e400"), "--seed"),
        (("validate", TEACHING, "--seeds", "1000000000"), "--seeds"),
        (("validate", TEACHING, "--seeds", BIG), "--seeds"),
        (("batch", "x.yaml", "--out", "o", "--workers", "1000"), "--workers"),
        (("batch", "x.yaml", "--out", "o", "--dask-local", "1000"), "--dask-local"),
        (("batch", "x.yaml", "--out", "o", "--chunk-size", BIG), "--chunk-size"),
        (("batch", "x.yaml", "--out", "o", "--scheduler-timeout", "10" + "0" * 18), "--scheduler"),
        (("app", "--port", BIG), "--port"),
        (("explain", TEACHING, "--state", "SM", "--date", "2022-01-01", "--seed", BIG), "--seed"),
    ],
)
def test_huge_numbers_are_refused_at_once(main, tmp_path, monkeypatch, argv, flag):
    monkeypatch.chdir(tmp_path)
    tracemalloc.start()
    t0 = time.perf_counter()
    rc, _, err = main(*argv)
    seconds = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rc == 2 and flag in err and "whole number from" in err, err
    assert "Overflow" not in err and "MemoryError" not in err
    assert len(err) < 1000  # the number is not echoed
    assert seconds < 2 and peak < 20 * 2**20, (seconds, peak)
    assert list(tmp_path.iterdir()) == []


def test_limits_are_stated_in_help(capsys):
    for command, words in (
        ("run", ["1,000,000", "2**63 - 1", "--force"]),
        ("validate", ["2 to 100,000"]),
        ("batch", ["4 per core", "1 to 20,000", "1 to 3600", "--force"]),
        ("plot", ["--force"]),
    ):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for w in words:
            assert w in text, (command, w)


def test_an_ensemble_that_would_not_fit_in_memory_is_refused(main, tmp_path, monkeypatch):
    monkeypatch.setattr("sim.outputs.ensemble_files.available_memory", lambda: 600 * 2**20)
    rc, _, err = main("run", TEACHING, "--out", tmp_path / "o", "--replicates", "1000000")
    refused(rc, err, "1,000,000 replicates", "GB", "memory available", "--date")
    assert list(tmp_path.iterdir()) == []


def test_a_design_of_too_many_runs_is_refused_before_it_is_built(main, tmp_path):
    exp = tmp_path / "big.yaml"
    exp.write_text(
        EXPERIMENT.replace("replicates: 2", "replicates: 1000000")
        + "design:\n  kind: grid\n  parameters:\n"
        "    states.SM.weights.energy: {low: 0.2, high: 0.6, levels: 100}\n"
    )
    t0 = time.perf_counter()
    rc, _, err = main(*batch_args(exp, tmp_path / "o"))
    refused(rc, err, "200,000,000 runs", f"{MAX_RUNS:,}", "2 arm(s) x 100 design point(s)")
    assert time.perf_counter() - t0 < 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.yaml"]
    import sim.batch

    with pytest.raises(UserError, match="at most 10,000,000 runs"):
        run_table(sim.batch.load_experiment(exp))


def test_figures_grow_with_many_shocks_instead_of_failing():
    """At the scenario limits (60 firings a run) both figures draw; the page grows."""
    import dataclasses

    import matplotlib.pyplot as plt
    import pandas as pd

    import sim

    result = sim.run("scenarios/teaching.yaml", seed=1)
    many = dataclasses.replace(result, shocks=pd.concat([result.shocks.head(1)] * 60))
    fig = many.figure()
    assert fig.get_figheight() > 8.5
    plt.close(fig)
    ens = sim.run_ensemble("scenarios/teaching.yaml", 3)
    ids = [f"shock_{k}" for k in range(40)]  # 40 distinct shocks: 20 dated, 20 drawn
    ens.shocks = pd.DataFrame(
        {
            "replicate": 0,
            "id": ids,
            "label": [f"event {k}" for k in range(40)],
            "kind": ["dated"] * 20 + ["probabilistic"] * 20,
            "date": "2021-06-30",
        }
    )
    fig = ens.figure()
    assert fig.get_figheight() > 8.5
    plt.close(fig)
    normal = result.figure()
    assert normal.get_figheight() == 8.5  # the usual page is unchanged
    plt.close(normal)
