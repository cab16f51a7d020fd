"""Batches: experiment files, seeds, executors, the resumable store.

The experiments here are small (the three-state teaching world, a few dozen runs) so the
file runs in well under a minute on two cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import Future
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
import sim.batch
import sim.scenario
from sim.batch.design import check_size, points, run_table
from sim.batch.executors import InProcessBackend, LocalProcesses
from sim.errors import UserError
from sim.scenario import with_overrides
from sim.tools.cli import main

ROOT = Path(__file__).resolve().parent.parent
TEACHING = ROOT / "scenarios" / "teaching.yaml"
GAS_DEAL = ROOT / "scenarios" / "experiments" / "gas_deal.yaml"


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text.replace("TEACHING", str(TEACHING)))
    return p


# two arms (the teaching world with and without the pipeline), a 2 x 2 grid over two of
# Smallland's weights (the third derived), 4 replicates: 32 runs
SMALL = """\
name: small test experiment
scenarios:
  base: TEACHING
  no_pipeline: {scenario: TEACHING, shocks_off: [pipeline]}
design:
  kind: grid
  parameters:
    states.SM.weights.energy: {values: [0.3, 0.5]}
    states.SM.weights.security: {low: 0.3, high: 0.4, levels: 2}
  complement:
    states.SM.weights.alignment: [states.SM.weights.energy, states.SM.weights.security]
replicates: 4
seed: 12345
keep: ties
"""


def tables(result: sim.batch.BatchResult) -> dict[str, pd.DataFrame]:
    runs = result.runs.drop(columns=["chunk", "wall_s"])
    return {"runs": runs, "indices": result.indices, "ties": result.ties, "shocks": result.shocks}


def assert_same(a: sim.batch.BatchResult, b: sim.batch.BatchResult) -> None:
    ta, tb = tables(a), tables(b)
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name], check_exact=True, obj=name)


# ---- the experiment file -------------------------------------------------------------


def test_gas_deal_example_loads_and_pairs_seeds():
    exp = sim.batch.load_experiment(GAS_DEAL)
    runs = run_table(exp)
    assert [a.name for a in exp.arms] == ["baseline", "gas_deal_fails"]
    assert len(runs) == 400 and exp.spec.keep == "indices"
    base = runs[runs["arm"] == "baseline"].set_index("replicate")["seed"]
    cf = runs[runs["arm"] == "gas_deal_fails"].set_index("replicate")["seed"]
    pd.testing.assert_series_equal(base, cf)  # common random numbers across the arms
    assert base.is_unique


@pytest.mark.parametrize(
    "path", sorted((ROOT / "scenarios" / "experiments").glob("*.yaml")), ids=lambda p: p.name
)
def test_every_shipped_experiment_loads_and_its_design_points_are_valid(path):
    exp = sim.batch.load_experiment(path)
    n_runs = check_size(exp)
    # a million runs' seeds take 10 s: the first and last runs of each arm stand for them
    per_arm = n_runs // len(exp.arms)
    ids = [range(a * per_arm, (a + 1) * per_arm) for a in range(len(exp.arms))]
    if n_runs > 100_000:
        ids = [r for arm in ids for r in (arm[:1000], arm[-1000:])]
    runs = pd.concat([run_table(exp, r) for r in ids], ignore_index=True)
    assert n_runs == len(exp.arms) * len(points(exp)) * exp.spec.replicates
    assert runs["run_id"].is_unique and set(runs["arm"]) == {a.name for a in exp.arms}
    d = exp.spec.design
    cols = [*d.parameters, *d.complement]
    for arm in exp.arms:  # every design point gives a valid scenario
        for _, row in runs.drop_duplicates("point").iterrows():
            with_overrides(arm.scenario, {c: float(row[c]) for c in cols})
    if d.kind == "sobol":  # the Saltelli sample: N (D + 2) points
        assert runs["point"].nunique() == d.samples * (len(d.parameters) + 2)


def test_seeds_come_from_the_root_seed_sequence(tmp_path):
    exp = sim.batch.load_experiment(write(tmp_path, SMALL))
    runs = run_table(exp)
    for _, r in runs.sample(5, random_state=0).iterrows():
        key = tuple(int(k) for k in r["seed_spawn_key"].split(","))
        ss = np.random.SeedSequence(int(r["seed_entropy"]), spawn_key=key)
        assert r["seed"] == int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))
    # `seeds: common`: a replicate has one seed at every design point and in every arm
    assert runs.groupby("replicate")["seed"].nunique().eq(1).all()
    per_point = sim.batch.load_experiment(
        write(tmp_path, SMALL.replace("keep: ties", "seeds: per_point"), "pp.yaml")
    )
    pp = run_table(per_point)
    assert pp.groupby(["arm"])["seed"].nunique().eq(len(pp) // 2).all()
    assert pp.groupby(["point", "replicate"])["seed"].nunique().eq(1).all()  # arms paired
    # the complement keeps the weights summing to 1
    w = runs[[f"states.SM.weights.{n}" for n in ("energy", "security", "alignment")]]
    np.testing.assert_allclose(w.sum(axis=1), 1.0)


BAD = [
    ("name: x\nscenarios: {a: TEACHING}\nreplicates: 2\nseed: 1\nkeep: tie\n", 5, "keep"),
    (
        "name: x\nscenarios: {a: TEACHING}\nreplicates: 2\nseed: 1\nreplicate: 3\n",
        5,
        "unknown field 'replicate' (did you mean 'replicates'?)",
    ),
    ("name: x\nscenarios: {a: TEACHING}\nseed: 1\n", 1, "replicates: required field is missing"),
    (
        "name: x\nscenarios:\n  a: teachng.yaml\nreplicates: 2\nseed: 1\n",
        3,
        "no such scenario file 'teachng.yaml'",
    ),
    (
        "name: x\nscenarios:\n  a: {scenario: TEACHING, shocks_off: [pipelin]}\n"
        "replicates: 2\nseed: 1\n",
        3,
        "no shock 'pipelin' in",
    ),
    (
        "name: x\nscenarios: {a: TEACHING}\nreplicates: 2\nseed: 1\ndesign:\n  kind: sobol\n"
        "  samples: 6\n  parameters:\n    model.tie_cost: {low: 0.1, high: 0.3}\n",
        7,
        "power of 2",
    ),
    (
        "name: x\nscenarios: {a: TEACHING}\nreplicates: 2\nseed: 1\ndesign:\n  kind: lhs\n"
        "  samples: 4\n  parameters:\n    states.SM.wieghts.energy: {low: 0.1, high: 0.3}\n",
        9,
        "unknown field 'wieghts' (did you mean 'weights'?)",
    ),
    (
        "name: x\nscenarios: {a: TEACHING}\nreplicates: 2\nseed: 1\ndesign:\n  kind: grid\n"
        "  parameters:\n    model.tie_cost: {low: 0.3, high: 0.1, levels: 2}\n",
        8,
        "expected finite low < high",
    ),
    (
        "name: x\nscenarios: {a: TEACHING}\nreplicates: 2\nseed: 1\ndates: [1999-12-31]\n",
        5,
        "outside the horizon",
    ),
    ("name: x\nscenarios: {a: TEACHING}\nreplicates: 0\nseed: 1\n", 3, "replicates"),
]


@pytest.mark.parametrize("text,line,needle", BAD)
def test_bad_experiment_files_say_where_and_exit_2(tmp_path, capsys, text, line, needle):
    exp = write(tmp_path, text)
    code = main(["batch", str(exp), "--out", str(tmp_path / "out"), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"exp.yaml:{line}:" in err, err
    assert needle in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_snapped_dates_keep_only_those_records(tmp_path):
    text = SMALL.replace("keep: ties", "keep: indices\ndates: [2022-11-15, 2025-12-31]")
    exp = sim.batch.load_experiment(write(tmp_path, text))
    assert [str(d) for d in exp.dates] == ["2022-12-31", "2025-12-31"]
    sim.batch.run(exp, tmp_path / "out", workers=1, progress=False)
    res = sim.batch.load(tmp_path / "out")
    assert sorted(res.indices["date"].dt.strftime("%Y-%m-%d").unique()) == [
        "2022-12-31",
        "2025-12-31",
    ]
    assert res.ties is None


def test_experiment_from_a_dict_with_iso_dates():
    exp = sim.batch.experiment_from_dict(
        {
            "name": "from Python",
            "scenarios": {"a": "teaching.yaml"},
            "replicates": 3,
            "seed": 5,
            "dates": ["2022-11-15"],
        },
        base_dir=TEACHING.parent,
    )
    assert [str(d) for d in exp.dates] == ["2022-12-31"] and len(run_table(exp)) == 3


# ---- runs are the model's runs, whatever executes them -------------------------------


def test_a_batch_run_is_the_mesa_run_with_its_seed_and_overrides(tmp_path):
    exp = sim.batch.load_experiment(write(tmp_path, SMALL))
    sim.batch.run(exp, tmp_path / "out", workers=1, progress=False)
    res = sim.batch.load(tmp_path / "out")
    assert (res.runs["status"] == "ok").all()
    for run_id in (5, 27):  # one in each arm
        r = res.runs.set_index("run_id").loc[run_id]
        ov = {p: r[p] for p in res.parameters}
        arm = exp.arm(r["arm"])
        one = sim.run(
            with_overrides(arm.scenario, ov), seed=int(r["seed"]), shocks_off=arm.shocks_off
        )
        got = res.indices[res.indices["run_id"] == run_id]
        want = one.indices
        for col in ("step", "alignment_index", "hedging_index", "utility"):
            np.testing.assert_array_equal(got[col].to_numpy(), want[col].to_numpy())
        got_t = res.ties[res.ties["run_id"] == run_id]
        np.testing.assert_array_equal(got_t["tie"].to_numpy(), one.ties["tie"].to_numpy())
    # the arm without the pipeline never fires it; the base arm always does
    fired = res.shocks.groupby("arm", observed=True)["id"].apply(set)
    assert "pipeline" in fired["base"] and "pipeline" not in fired["no_pipeline"]


def test_same_tables_in_process_in_processes_and_any_chunking(tmp_path):
    exp = sim.batch.load_experiment(write(tmp_path, SMALL))
    sim.batch.run(exp, tmp_path / "a", workers=1, chunk_size=32, progress=False)
    sim.batch.run(exp, tmp_path / "b", workers=2, chunk_size=3, progress=False)
    a, b = sim.batch.load(tmp_path / "a"), sim.batch.load(tmp_path / "b")
    assert a.manifest["chunks"] == 2 and b.manifest["chunks"] > 8
    assert_same(a, b)
    # and the arms differ only through the switched-off shock: before 2021 they agree
    ix = a.indices
    early = ix[ix["date"] < "2021-01-01"]
    base = early[early["arm"] == "base"].reset_index(drop=True)
    nop = early[early["arm"] == "no_pipeline"].reset_index(drop=True)
    np.testing.assert_array_equal(base["alignment_index"], nop["alignment_index"])
    late = ix[ix["date"] > "2022-01-01"]
    assert not np.array_equal(
        late[late["arm"] == "base"]["alignment_index"].to_numpy(),
        late[late["arm"] == "no_pipeline"]["alignment_index"].to_numpy(),
    )


# ---- the store: resume, refusal, failures, dead workers ------------------------------


def test_rerun_resumes_and_a_different_experiment_is_refused(tmp_path, capsys):
    exp_file = write(tmp_path, SMALL)
    out = tmp_path / "out"
    assert main(["batch", str(exp_file), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    before = {p.name: p.stat().st_mtime_ns for p in (out / "parts").iterdir()}
    assert main(["batch", str(exp_file), "--out", str(out), "--workers", "1"]) == 0
    assert "0 runs" in capsys.readouterr().out
    assert before == {p.name: p.stat().st_mtime_ns for p in (out / "parts").iterdir()}
    # resuming with other code is allowed, and said
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["versions"]["git_commit"] = "0000000"
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert main(["batch", str(exp_file), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    assert "warning: resuming a batch started with other code" in capsys.readouterr().err
    other = write(tmp_path, SMALL.replace("seed: 12345", "seed: 99"), "other.yaml")
    code = main(["batch", str(other), "--out", str(out), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "different experiment" in err and "Traceback" not in err


def test_failed_runs_are_recorded_and_the_batch_goes_on(tmp_path, capsys):
    text = SMALL.replace(
        "states.SM.weights.security: {low: 0.3, high: 0.4, levels: 2}",
        "states.SM.weights.security: {values: [0.3, 0.9]}",  # 0.5 + 0.9 > 1: invalid
    )
    exp_file = write(tmp_path, text)
    code = main(["batch", str(exp_file), "--out", str(tmp_path / "out"), "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 1
    res = sim.batch.load(tmp_path / "out")
    bad = res.failed()
    # energy 0.5 with security 0.9: the alignment complement is -0.4, out of [0, 1]
    assert set(bad["point"]) == {1, 3} and len(bad) == 2 * 2 * 4
    assert bad["error"].str.contains("exp.yaml").all()
    assert bad["error"].str.contains("weights.alignment").all()
    assert f"failed {len(bad)}" in out
    # each failed run says how to rerun it, and rerunning it fails the same way
    first = bad.iloc[0]
    assert f"seed={first['seed']}" in first["reproduce"]
    with pytest.raises(sim.ScenarioError, match="weights.alignment.value"):
        eval(first["reproduce"], {"sim": sim})
    ok = res.runs[res.runs["status"] == "ok"]
    assert len(ok) == 16 and set(res.indices["run_id"]) == set(ok["run_id"])


def test_a_dead_worker_is_detected_and_its_chunk_rerun(tmp_path):
    exp = sim.batch.load_experiment(write(tmp_path, SMALL))
    sim.batch.run(exp, tmp_path / "ref", workers=1, progress=False)
    killed = []

    def kill_one(chunk_id, backend):
        if not killed:
            pid = backend.pids()[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    with LocalProcesses(2) as backend:
        summary = sim.batch.run(
            exp, tmp_path / "out", backend=backend, chunk_size=2, progress=False, on_chunk=kill_one
        )
    assert killed and summary.reruns >= 1 and summary.failed == 0
    assert_same(sim.batch.load(tmp_path / "ref"), sim.batch.load(tmp_path / "out"))


def test_sigkilled_batch_resumes_to_identical_results(tmp_path):
    text = SMALL.replace("replicates: 4", "replicates: 12")  # 96 runs
    exp_file = write(tmp_path, text)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "sim", "batch", str(exp_file), "--out", str(out)]
    cmd += ["--workers", "1", "--chunk-size", "2", "--quiet"]
    # the first session is slowed down after each stored chunk, so that the kill lands
    # mid-batch however fast the machine; the resume is the plain command
    slow = (
        "import sys, time, sim.batch; sim.batch.run(sys.argv[1], sys.argv[2], workers=1, "
        "chunk_size=2, progress=False, on_chunk=lambda c, b: time.sleep(0.1))"
    )
    proc = subprocess.Popen([sys.executable, "-c", slow, str(exp_file), str(out)], cwd=tmp_path)
    deadline = time.monotonic() + 120
    parts = out / "parts"
    while time.monotonic() < deadline:  # kill it once a few chunks are stored
        if parts.is_dir() and len([p for p in parts.iterdir() if p.name[0] != "."]) >= 5:
            break
        assert proc.poll() is None, "the batch ended before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len([p for p in parts.iterdir() if p.name.startswith("chunk-")])
    assert 5 <= done < 48
    assert subprocess.run(cmd, cwd=tmp_path).returncode == 0
    sim.batch.run(
        sim.batch.load_experiment(exp_file),
        tmp_path / "whole",
        workers=1,
        chunk_size=7,
        progress=False,
    )
    resumed, whole = sim.batch.load(out), sim.batch.load(tmp_path / "whole")
    assert (resumed.runs["status"] == "ok").all() and len(resumed.runs) == 96
    assert not resumed.indices.duplicated(["run_id", "step", "state"]).any()
    assert_same(resumed, whole)
    assert [p.name for p in parts.iterdir() if p.name.startswith(".")] == []


def test_out_must_be_a_new_or_batch_directory(tmp_path, capsys):
    exp_file = write(tmp_path, SMALL)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    code = main(["batch", str(exp_file), "--out", str(tmp_path / "busy"), "--workers", "1"])
    assert code == 2 and "not the output of an earlier batch" in capsys.readouterr().err
    with pytest.raises(UserError, match="not a batch directory"):
        sim.batch.load(tmp_path / "busy")


def test_in_process_backend_runs_in_this_process(tmp_path):
    exp = sim.batch.load_experiment(
        write(tmp_path, SMALL.replace("replicates: 4", "replicates: 1"))
    )
    with InProcessBackend() as backend:
        s = sim.batch.run(exp, tmp_path / "out", backend=backend, progress=False)
    assert s.ok == 8 and s.backend.startswith("in-process")


class _LosesOneChunk(InProcessBackend):
    """An executor on which one chunk always fails (a lost worker or cluster)."""

    def __init__(self, chunk_id: int):
        super().__init__()
        inner = self._ex

        class Executor(type(inner)):
            def submit(self, fn, chunk):
                if chunk.chunk == chunk_id:
                    f = Future()
                    f.set_exception(OSError("connection to the worker lost"))
                    return f
                return inner.submit(fn, chunk)

        self._ex = Executor()


def test_a_chunk_the_executor_keeps_losing_is_failed_then_rerun_on_resume(tmp_path):
    exp = sim.batch.load_experiment(write(tmp_path, SMALL))
    with _LosesOneChunk(2) as backend:
        s = sim.batch.run(exp, tmp_path / "out", backend=backend, chunk_size=4, progress=False)
    assert s.failed == 4 and s.ok == 28 and s.reruns == 2  # tried three times
    bad = sim.batch.load(tmp_path / "out").failed()
    assert set(bad["chunk"]) == {2} and bad["error"].str.contains("connection to the worker").all()
    s = sim.batch.run(exp, tmp_path / "out", workers=1, progress=False)
    assert s.ran == 4 and s.failed == 0
    sim.batch.run(exp, tmp_path / "ref", workers=1, progress=False)
    assert_same(sim.batch.load(tmp_path / "ref"), sim.batch.load(tmp_path / "out"))


def test_a_script_that_starts_a_batch_unguarded_is_told_how_to_guard_it(tmp_path):
    """Each local worker imports the calling script again: a script that calls
    sim.batch.run at its top level kills its workers as they start. The batch stops at
    once and says how to guard the call, instead of failing every chunk three times."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        "import sim.batch\n"
        f"sim.batch.run({str(GAS_DEAL)!r}, {str(tmp_path / 'out')!r}, workers=2, "
        "progress=False)\n"
    )
    res = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert res.returncode != 0
    assert "the worker processes died as they started" in res.stderr
    assert 'if __name__ == "__main__":' in res.stderr and str(script) in res.stderr
    assert not list((tmp_path / "out" / "parts").glob("chunk-*"))  # no chunk was failed
