"""Fuzzing: mutated scenario files, experiment files and CLI arguments, on a fixed budget.

The property, for every case: the command ends with exit code 0, 1 (only where a
command's own verdict says so: failed facts or failed runs) or 2 (bad input, with a
message); never a traceback (``MULTIVECTOR_DEBUG=1`` makes a bug raise here), never a
hang (each case has an alarm), and never a changed, new or deleted file outside the
command's ``--out``.

The mutations come from a seeded generator (no global randomness), so a failure is
reproduced by rerunning the test; its message prints the case's input.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from sim.tools.cli import main

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE.parent / "scenarios"
CASE_SECONDS = 30

#: Values that have broken parsers before: huge and non-finite numbers, wrong types,
#: aliases and tags, dates at the calendar's ends, long strings.
NASTY = [
    "1e400", "-1e400", "10" * 200, ".nan", ".inf", "-.inf", "1e160", "-1", "0", "2", "1e300",
    "[]", "{}", "[1, [2, [3]]]", "null", "yes", "''", '"\\x00"', "x" * 5000,
    "!!python/object:os.system echo", "!foo {a: 1}", "*undefined_alias", "&a [1, 2]",
    "9999-12-31", "0001-01-01", "2020-02-30", "/etc/passwd", "../../../../etc/passwd",
    "{value: 1e400, source: s}", "{value: .nan, assumption: a}", "-0.0", "0x10", "1_000",
]  # fmt: skip


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A project copy to run in: its scenarios, and the checksums of every file in it."""
    shutil.copytree(SCENARIOS, tmp_path / "scenarios")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MULTIVECTOR_DEBUG", "1")
    return tmp_path


def _tree(root: Path, skip: Path | None = None) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if skip is not None and (p == skip or skip in p.parents):
            continue
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
        elif p.is_dir():
            out[str(p.relative_to(root)) + "/"] = ""
    return out


class _Hang(Exception):
    pass


def _alarm(signum, frame):
    raise _Hang(f"no answer within {CASE_SECONDS} s")


def _run_case(argv: list[str], root: Path, out: Path | None, verdicts=(0, 2)) -> int:
    """Run one CLI case in process; assert the property; return the exit code."""
    before = _tree(root, skip=out)
    stderr = io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_SECONDS)
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's own usage errors
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    assert code in verdicts, f"{argv}: exit {code}\n{stderr.getvalue()[-2000:]}"
    if code == 2:
        assert stderr.getvalue().strip(), f"{argv}: exit 2 without a message"
    assert "Traceback" not in stderr.getvalue(), f"{argv}: a traceback\n{stderr.getvalue()}"
    assert _tree(root, skip=out) == before, f"{argv}: changed files outside --out"
    return code


def _mutate(text: str, rng: np.random.Generator) -> str:
    """One to three random edits of a YAML text (values, lines, indentation, truncation)."""
    lines = text.splitlines()
    for _ in range(int(rng.integers(1, 4))):
        k = int(rng.integers(len(lines)))
        op = int(rng.integers(6))
        if op == 0 and ":" in lines[k]:  # replace a value
            key = lines[k].split(":", 1)[0]
            lines[k] = f"{key}: {NASTY[int(rng.integers(len(NASTY)))]}"
        elif op == 1:  # delete a line
            del lines[k]
        elif op == 2:  # duplicate a line (duplicate keys, repeated list items)
            lines.insert(k, lines[k])
        elif op == 3:  # break the indentation
            lines[k] = " " * int(rng.integers(0, 7)) + lines[k].lstrip()
        elif op == 4:  # swap two lines
            j = int(rng.integers(len(lines)))
            lines[k], lines[j] = lines[j], lines[k]
        else:  # truncate
            lines = lines[: max(1, k)]
        if not lines:
            lines = ["name: x"]
    return "\n".join(lines) + "\n"


def test_mutated_scenarios_check_and_run(sandbox):
    rng = np.random.default_rng(20261202)
    teaching = (SCENARIOS / "teaching.yaml").read_text()
    baseline = (SCENARIOS / "baseline.yaml").read_text()
    codes = []
    for case in range(120):
        source = baseline if case % 4 == 0 else teaching
        path = sandbox / "scenarios" / f"fuzz_{case}.yaml"
        path.write_text(_mutate(source, rng))
        out = sandbox / "runs" / f"out_{case}"
        (sandbox / "runs").mkdir(exist_ok=True)
        if case % 4 == 0:
            codes.append(_run_case(["check", str(path)], sandbox, None))
        else:
            argv = ["run", str(path), "--seed", "1", "--out", str(out)]
            codes.append(_run_case(argv, sandbox, out))
        path.unlink()
    assert codes.count(2) > 20, "the mutations should break most files"


def test_mutated_experiments(sandbox):
    rng = np.random.default_rng(7)
    base = "\n".join(
        [
            "name: fuzzed experiment",
            "scenarios:",
            "  teaching: teaching.yaml",
            "design:",
            "  kind: lhs",
            "  samples: 3",
            "  parameters:",
            "    states.SM.weights.energy: {low: 0.3, high: 0.5}",
            "  complement:",
            "    states.SM.weights.alignment: [states.SM.weights.energy, "
            "states.SM.weights.security]",
            "replicates: 2",
            "seed: 5",
            "keep: indices",
            "dates: [2021-12-31]",
            "",
        ]
    )
    for case in range(40):
        path = sandbox / "scenarios" / f"exp_{case}.yaml"
        path.write_text(_mutate(base, rng) if case else base)
        out = sandbox / "runs" / f"exp_{case}"
        (sandbox / "runs").mkdir(exist_ok=True)
        argv = ["batch", str(path), "--out", str(out), "--workers", "1", "--quiet"]
        _run_case(argv, sandbox, out, verdicts=(0, 1, 2))
        path.unlink()


def test_random_cli_arguments(sandbox):
    rng = np.random.default_rng(11)
    values = [
        "0", "-1", "1", "7", "1e400", "99999999999999999999", "1000000000", "abc", "",
        "2022-09-30", "9999-12-31", "1000-01-01", "AZ", "SM", "nosuch", "ukraine_war",
        "pipeline", "base_closes", "--", "-x", "/", "/etc", "scenarios", "runs/new", "0.5",
    ]  # fmt: skip
    flags = {
        "run": ["--seed", "--replicates", "--date", "--shock-off", "--keep", "--force"],
        "explain": ["--seed", "--state", "--date", "--shock-off"],
        "validate": ["--seeds"],
        "check": [],
    }
    (sandbox / "runs").mkdir(exist_ok=True)
    for case in range(60):
        command = list(flags)[case % len(flags)]
        scenario = "scenarios/teaching.yaml" if rng.random() < 0.8 else values[case % 24]
        argv = [command, scenario]
        for _ in range(int(rng.integers(0, 4))):
            if flags[command]:
                argv.append(flags[command][int(rng.integers(len(flags[command])))])
            argv.append(values[int(rng.integers(len(values)))])
        out = None
        if command == "run":  # --out only ever a fresh folder inside runs/
            argv += ["--out", f"runs/cli_{case}"]
            out = sandbox / "runs" / f"cli_{case}"
        verdicts = (0, 1, 2) if command == "validate" else (0, 2)
        _run_case(argv, sandbox, out, verdicts=verdicts)
