"""The analyst's workbench: ``new``, ``schema`` and ``params``.

``new NAME --states A,B,C``: a commented scenario skeleton with every section and every
field at its default, each number ``{value: X, assumption: "TODO: ..."}``, so the file
passes ``multivector check`` as written and the analyst replaces the TODOs
(:func:`skeleton`).

``schema [--out DIR]``: JSON Schemas of the scenario and experiment formats, generated
from the pydantic models that validate them (:class:`~sim.scenario.schema.ScenarioSpec`,
:class:`~sim.batch.experiment.ExperimentSpec`), so they cannot drift from the code
(:func:`json_schemas`). An editor with a YAML language server checks a file as it is
typed when its first line is ``# yaml-language-server: $schema=PATH``.

``params SCENARIO [--csv FILE]``: every number of a scenario, with its override path
(``states.AZ.weights.energy``), value, the bounds of its field, its ``range`` if any, its
source or assumption and its ``file:line`` (:func:`params_table`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from pathlib import Path
from typing import Any

from sim.errors import UserError

#: The files ``schema`` writes.
SCENARIO_SCHEMA, EXPERIMENT_SCHEMA = "scenario.schema.json", "experiment.schema.json"
#: A state id or pole name written without quotes in the skeleton.
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
#: Words YAML would read as something other than text.
_YAML_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}
#: What each directed pair parameter means (i the row state, j the partner).
_PAIR_MEANING = {
    "energy": "share of {i}'s energy and economic stake that lies with {j} (share: row sum <= 1)",
    "threat": "how hostile {j} is toward {i} (needs proximity > 0 to act)",
    "proximity": "{j}'s reach to {i} (1 = a neighbour)",
    "protection": "credibility of {j}'s commitment to defend {i}",
    "arms": "share of {i}'s arms imports that come from {j} (share: row sum <= 1)",
    "affinity": "{i}'s affinity for {j}, -1 to 1 (identity, values)",
    "leverage": "{j}'s coercive hold over {i} (share: row sum <= 1)",
}
_STATE_MEANING = {
    "power": "capability of {s} (only ratios between states matter)",
    "autonomy": "how much {s} dislikes depending on one pole, 0 to 10",
    "cross_pressure": "what being close to both sides of a rivalry costs {s}, 0 to 10",
}


# ---- the parsers -------------------------------------------------------------------


def add_commands(sub) -> None:
    """The ``new``, ``schema`` and ``params`` subparsers."""
    n = sub.add_parser(
        "new",
        help="write a commented scenario skeleton (every field, its default, TODOs)",
        description="Write a scenario file with every section and field at its default. "
        "Every number is {value: X, assumption: 'TODO: ...'}, so the file passes "
        "`multivector check` as written: replace the TODOs with sources.",
    )
    n.add_argument("name", help="the world's display name (the `name:` field)")
    n.add_argument("--states", required=True, metavar="A,B,C", help="state ids, two or more")
    n.add_argument(
        "--poles",
        metavar="POLE=A,B;POLE=C",
        help='groups of states, e.g. "West=A,B;East=C"; the first two poles make the '
        "alignment axis (toward the first, away from the second)",
    )
    n.add_argument("--focus", metavar="ID", help="the state summarised (default: the first)")
    n.add_argument("--out", metavar="FILE", help="the file to write (default: NAME.yaml here)")
    n.add_argument("--force", action="store_true", help="replace an existing file")

    s = sub.add_parser(
        "schema",
        help="write JSON Schemas of scenario and experiment files (for an editor)",
        description=f"Write {SCENARIO_SCHEMA} and {EXPERIMENT_SCHEMA}, generated from the "
        "models that validate the files. In VS Code (YAML extension) put "
        "`# yaml-language-server: $schema=PATH/scenario.schema.json` on the first line of "
        "a scenario file.",
    )
    s.add_argument("--out", metavar="DIR", default=".", help="directory (default: here)")
    s.add_argument("--force", action="store_true", help="replace existing schema files")

    p = sub.add_parser(
        "params",
        help="list every number of a scenario: path, value, range, provenance, file:line",
    )
    p.add_argument("scenario")
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    p.add_argument("--force", action="store_true", help="replace an existing --csv file")


def dispatch(args) -> int | None:
    """Run the command if it is one of this module's; ``None`` otherwise."""
    if args.command == "new":
        return cmd_new(args)
    if args.command == "schema":
        return cmd_schema(args)
    if args.command == "params":
        return cmd_params(args)
    return None


# ---- new ---------------------------------------------------------------------------


def _ids(text: str, what: str) -> list[str]:
    """Comma-separated ids: non-empty, distinct, not ``*``."""
    ids = [t.strip() for t in text.split(",")]
    if any(not t for t in ids):
        raise UserError(f"{what} {text!r}: an empty id; write ids separated by commas")
    if "*" in ids:
        raise UserError(f"{what} {text!r}: '*' means every state in effects; choose another id")
    dup = sorted({t for t in ids if ids.count(t) > 1})
    if dup:
        raise UserError(f"{what} {text!r}: {', '.join(dup)} given twice")
    return ids


def parse_poles(text: str, states: list[str]) -> dict[str, list[str]]:
    """``"West=A,B;East=C"`` as ``{"West": ["A", "B"], "East": ["C"]}``.

    Raises:
        UserError: a malformed pole, an unknown state, or a state in two poles.
    """
    from sim.scenario import did_you_mean

    poles: dict[str, list[str]] = {}
    for part in text.split(";"):
        name, eq, members = part.partition("=")
        name = name.strip()
        if not eq or not name:
            raise UserError(f"--poles {text!r}: expected POLE=A,B;POLE=C, got {part!r}")
        if name in poles:
            raise UserError(f"--poles {text!r}: pole {name!r} given twice")
        poles[name] = _ids(members, f"--poles {name}=")
        for m in poles[name]:
            if m not in states:
                raise UserError(
                    f"--poles: {m!r} is not one of --states{did_you_mean(m, states)}; "
                    f"the states are {', '.join(states)}"
                )
    seen: dict[str, str] = {}
    for name, members in poles.items():
        for m in members:
            if m in seen:
                raise UserError(f"--poles: {m} is in two poles ({seen[m]} and {name})")
            seen[m] = name
    return poles


def _q(text: str) -> str:
    """``text`` as a YAML scalar: plain when it is a simple id, else double-quoted."""
    if _PLAIN.fullmatch(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)


def _todo(value: float, why: str) -> str:
    return f"{{value: {value!r}, assumption: {json.dumps('TODO: ' + why, ensure_ascii=False)}}}"


def skeleton(
    name: str,
    states: list[str],
    poles: dict[str, list[str]] | None = None,
    focus: str | None = None,
) -> str:
    """A commented scenario file with every section and field at its default.

    Every number is ``{value: X, assumption: "TODO: ..."}`` (the weights a third each,
    everything else its default or 0: a neutral world), one example shock (a no-op until
    edited), one example stylised fact; ``observed`` and ``calibration`` are commented.

    Args:
        name: the display name.
        states: the state ids, two or more.
        poles: pole name -> member states; the first two make the alignment axis.
        focus: the state summarised after a run (default: the first).
    """
    from sim.scenario.vocabulary import MODEL_CONSTANTS, in_version

    poles = poles or {}
    focus = focus or states[0]
    partner = next(s for s in states if s != focus)
    start, end = dt.date(2020, 1, 1), dt.date(2030, 12, 31)
    lines = [
        f"# {name}: a scenario skeleton written by `multivector new` on {dt.date.today()}.",
        "#",
        "# Every field is here at its default. Every number is a TODO assumption: replace",
        "# each with `source:` (who published it) or a real `assumption:` (a one-line",
        "# reason), and add `range: [low, high]` where it is uncertain. The field reference",
        "# is scenarios/README.md; `multivector check FILE` reports what is wrong with line",
        "# numbers, and `multivector params FILE` lists every number.",
        "# For checks as you type (VS Code, YAML extension): run `multivector schema --out",
        "# schemas` and make the first line `# yaml-language-server: $schema=schemas/"
        f"{SCENARIO_SCHEMA}`.",
        f"name: {json.dumps(name, ensure_ascii=False)}",
        'description: "TODO: one paragraph: the question, the states, the period"',
        f"focus: {_q(focus)}                     # the state summarised after `multivector run`",
        "",
        "time:",
        f"  start: {start}              # a date, unquoted (periods count from its month)",
        f"  end: {end}                # or `steps: N` (a count of periods) instead of end",
        "  step: quarter                  # quarter | month | year",
        "  burn_in: 40                    # unrecorded periods before the start (ties start at 0)",
        "",
        "model:                           # the model constants, at their defaults",
        "  version: 1                     # 1 | 2 (scenarios/README.md, section 5)",
    ]
    for const, ((lo, hi), default) in in_version(MODEL_CONSTANTS, 1).items():
        lines.append(f"  {const}: {_todo(default, f'the default ({lo:g} to {hi:g})')}")
    lines += [
        "  update: simultaneous           # simultaneous | one_at_a_time",
        "  candidates: local              # local (-delta, 0, +delta) | grid",
        "",
    ]
    if poles:
        lines.append("poles:                           # groups of states treated as one pole")
        for pole, members in poles.items():
            lines.append(f"  {_q(pole)}: [{', '.join(_q(m) for m in members)}]")
    else:
        lines += [
            "poles: {}                        # e.g. {West: [A, B], East: [C]}",
        ]
    if len(poles) >= 2:
        toward, away = list(poles)[:2]
        lines.append(
            f"alignment_axis: {{toward: {_q(toward)}, away: {_q(away)}}}"
            "   # alignment index = mean tie toward minus away"
        )
    else:
        lines.append("# alignment_axis: {toward: West, away: East}   # needs two poles")
    lines += _states_and_relations(states)
    lines += _shocks_to_calibration(states, focus, partner, start, end)
    return "\n".join(lines)


def _states_and_relations(states: list[str]) -> list[str]:
    """The skeleton's ``states`` and ``relations`` sections."""
    from sim.scenario.vocabulary import PAIR_PARAMS, in_version

    lines = ["", "states:"]
    third = round(1 / 3, 6)
    shares = {"energy": third, "security": third, "alignment": round(1 - 2 * third, 6)}
    for s in states:
        lines += [f"  {_q(s)}:", f"    name: {json.dumps(s, ensure_ascii=False)}"]
        lines.append(f"    power: {_todo(1, _STATE_MEANING['power'].format(s=s))}")
        lines.append("    weights:                     # shares of concern: they sum to 1")
        for w, v in shares.items():
            lines.append(f"      {w}: {_todo(v, f'weight of the {w} payoff for {s}')}")
        for field in ("autonomy", "cross_pressure"):
            lines.append(f"    {field}: {_todo(0.0, _STATE_MEANING[field].format(s=s))}")
        lines += [
            "    rule: logit                  # logit | best_response | fixed",
            "    # note: free text",
        ]
    lines += [
        "",
        "relations:                       # relations.I.J: what J means to I (0 when left out)",
    ]
    for i in states:
        lines.append(f"  {_q(i)}:")
        for j in states:
            if j == i:
                continue
            lines.append(f"    {_q(j)}:")
            for param in in_version(PAIR_PARAMS, 1):
                meaning = _PAIR_MEANING[param].format(i=i, j=j)
                lines.append(f"      {param}: {_todo(0.0, meaning)}")
    return lines


def _shocks_to_calibration(
    states: list[str], focus: str, partner: str, start: dt.date, end: dt.date
) -> list[str]:
    """The skeleton from ``rivalries`` to the end: an example shock, the references,
    an example stylised fact, and ``observed`` and ``calibration`` commented."""
    from sim.scenario.schema import DEFAULT_SEED_START

    a, b = states[0], states[1]
    lines = [
        "",
        "rivalries: []                    # symmetric, 0 to 1, e.g.:",
        f'#  - {{pair: [{_q(a)}, {_q(b)}], value: 0.5, assumption: "TODO: why they are rivals"}}',
        "",
        "shocks:                          # events that change parameters; this one does nothing",
        "  example_shock:                 # until its effect's value is edited",
        '    label: "TODO: what happens"',
        "    date: 2025-01-01             # or probability: {value: P, assumption: ...} per period",
        "    # window: {start: 2022-01-01, end: 2026-12-31}   # with probability: when it may fire",
        "    # duration: 4                # periods it lasts (default: for good)",
        "    max_fires: 1",
        '    assumption: "TODO: who reported the event (as source:), or why it is assumed"',
        "    effects:                     # op: set | add | multiply; pair: [I, J] or state: I",
        f"      - {{param: affinity, pair: [{_q(a)}, {_q(b)}], op: add, "
        f"value: 0.0, both_ways: false, exogenous: false, "
        f'assumption: "TODO: how much the event changes {a}\'s affinity for {b}"}}',
        "",
        "references: {}                   # key: full citation, for short `source:` texts",
        "",
        "validation:                      # stylised facts for `multivector validate`",
        "  seeds: 200",
        f"  seed_start: {DEFAULT_SEED_START}",
        "  # tuning_seeds: [0, 39]        # the seeds values were tuned on (never validated on)",
        "  facts:",
        "    - id: example_fact",
        "      kind: tie_range            # tie_range | strongest_tie | mean_change | greater | "
        "paired_effect",
        f'      description: "TODO: {focus}\'s tie to {partner} stays within the band"',
        '      source: "TODO: where the fact is documented"',
        f"      state: {_q(focus)}",
        f"      bands: {{{_q(partner)}: [-1.0, 1.0]}}",
        f"      window: {{start: {start}, end: {end}}}",
        "      threshold: 0.9             # share of seeds in which it must hold",
        "",
        "# observed:                      # how the states are named in observed data",
        "#   codes:",
    ]
    lines += [f"#     {_q(s)}: ISO3    # an ISO3 code, a list, or a group" for s in states]
    lines += [
        "",
        "# calibration:                   # the uncertain inputs (with range:) to fit",
        f"#   inputs: [states.{focus}.weights.energy]",
        "#   until: 2021",
        "",
    ]
    return lines


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower() or "scenario"


def cmd_new(args) -> int:
    """Write the skeleton, check it loads, and say where it is."""
    from sim.outputs.files import atomic_file, make_parents
    from sim.scenario import did_you_mean, load_scenario

    states = _ids(args.states, "--states")
    if len(states) < 2:
        raise UserError(f"--states {args.states!r}: a scenario needs at least two states")
    poles = parse_poles(args.poles, states) if args.poles else {}
    if args.focus is not None and args.focus not in states:
        raise UserError(
            f"--focus {args.focus!r}: not one of --states{did_you_mean(args.focus, states)}"
        )
    out = Path(args.out) if args.out else Path(f"{_slug(args.name)}.yaml")
    _refuse_existing(out, args.force, "--out")
    text = skeleton(args.name, states, poles, args.focus)
    made = make_parents(out.resolve())
    try:
        with atomic_file(out) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except BaseException:
        from sim.outputs.files import remove_made

        remove_made(made)
        raise
    s = load_scenario(out)  # the skeleton must pass as written (a bug otherwise)
    print(
        f"wrote {out} ({s.name}; {len(s.state_ids)} states, every number a TODO assumption)\n"
        f"next: edit it, then `multivector check {out}` and `multivector run {out} --out DIR`"
    )
    return 0


def _refuse_existing(path: Path, force: bool, option: str) -> None:
    """Refuse a folder, or an existing file without ``force``."""
    if path.is_dir():
        raise UserError(f"{option} {path}: is a folder; name a file")
    if path.exists() and not force:
        raise UserError(f"{option} {path}: exists; refusing to replace it (add --force)")


# ---- schema ------------------------------------------------------------------------


def json_schemas() -> dict[str, dict]:
    """The JSON Schemas of scenario and experiment files, by file name.

    Generated from :class:`~sim.scenario.schema.ScenarioSpec` and
    :class:`~sim.batch.experiment.ExperimentSpec`, with what their validators accept
    beyond the models' fields: a scenario's ``extends`` and ``remove_shocks`` (a file
    with ``extends`` is checked only for its top-level field names, since it states only
    what differs from its parent) and an experiment arm given as a bare file name.
    """
    from sim.batch.experiment import ExperimentSpec
    from sim.scenario.schema import ScenarioSpec

    base = "https://multivector.invalid/schemas/"
    scenario = ScenarioSpec.model_json_schema()
    full = {k: v for k, v in scenario.items() if k != "$defs"}
    full["properties"] = {
        **full["properties"],
        "extends": {"type": "string", "description": "the parent scenario file"},
        "remove_shocks": {"type": "array", "items": {"type": "string"}},
    }
    loose = {
        "type": "object",
        "properties": {k: {} for k in full["properties"]},
        "additionalProperties": False,
    }
    scenario_schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": base + SCENARIO_SCHEMA,
        "title": "Multivector scenario file",
        "description": "Generated by `multivector schema` from sim.scenario.schema.ScenarioSpec; "
        "field reference: scenarios/README.md",
        "$defs": scenario.get("$defs", {}),
        "if": {"type": "object", "required": ["extends"]},
        "then": loose,
        "else": full,
    }
    experiment = ExperimentSpec.model_json_schema()
    defs = experiment.get("$defs", {})
    if "ArmSpec" in defs:
        arm = defs["ArmSpec"]
        defs["ArmSpec"] = {"anyOf": [{"type": "string"}, arm], "title": arm.get("title")}
    experiment_schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": base + EXPERIMENT_SCHEMA,
        "title": "Multivector experiment file",
        "description": "Generated by `multivector schema` from "
        "sim.batch.experiment.ExperimentSpec; field reference: scenarios/experiments/README.md",
        **experiment,
    }
    return {SCENARIO_SCHEMA: scenario_schema, EXPERIMENT_SCHEMA: experiment_schema}


def cmd_schema(args) -> int:
    """Write the two schema files into ``--out`` (created with its parents if missing)."""
    from sim.outputs.files import atomic_file, make_parents

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    schemas = json_schemas()
    for name in schemas:
        _refuse_existing(out / name, args.force, "--out")
    make_parents(out.resolve() / "x")
    for name, schema in schemas.items():
        with atomic_file(out / name) as tmp:
            tmp.write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    print(
        f"wrote {out / SCENARIO_SCHEMA} and {out / EXPERIMENT_SCHEMA}\n"
        "To check a file as you type (VS Code with the YAML extension), make its first line\n"
        f"  # yaml-language-server: $schema={out / SCENARIO_SCHEMA}\n"
        "(a path relative to the file, or absolute; the experiment schema likewise)"
    )
    return 0


# ---- params ------------------------------------------------------------------------

#: The columns of :func:`params_table`.
PARAMS_COLUMNS = ("path", "value", "low", "high", "bounds", "provenance", "where")


def params_table(scenario) -> Any:
    """Every number of ``scenario`` as a table (pandas DataFrame), in file order.

    Columns: ``path`` (the override path: ``states.AZ.weights.energy``,
    ``shocks.war.effects.0.value``; a setting such as ``time.burn_in`` too), ``value``,
    ``low``/``high`` (its ``range``, empty when it has none), ``bounds`` (the values its
    field accepts, for the numbers of the model), ``provenance`` (``source: ...``,
    ``assumption: ...``, ``default`` for a model constant the file leaves out, ``setting`` for
    a setting, which needs none) and ``where`` (``file:line``; ``(default)`` when not in the file).
    """
    import pandas as pd

    from sim.scenario.checks import numbers
    from sim.scenario.vocabulary import MODEL_CONSTANTS, in_version

    rows: list[dict] = []
    sourced = {num.loc: num for num in numbers(scenario.spec)}
    constants = in_version(MODEL_CONSTANTS, scenario.spec.model.version)
    for name, ((lo, hi), default) in constants.items():
        if ("model", name) not in sourced:
            rows.append(_row(f"model.{name}", default, None, (lo, hi), "default", "(default)"))

    def place(loc: tuple) -> str:
        for n in range(len(loc), -1, -1):
            if loc[:n] in scenario.where:
                f, line = scenario.where[loc[:n]]
                return f"{f}:{line}"
        return "?"

    def walk(node: Any, loc: tuple) -> None:
        if loc in sourced:
            num = sourced[loc]
            n = num.node
            text = f"source: {n.source}" if n.source else f"assumption: {n.assumption}"
            rows.append(_row(num.path, n.value, n.range, num.bounds, text.strip(), place(loc)))
            return
        if isinstance(node, dict):
            for k, v in node.items():
                if k not in ("range", "dist"):
                    walk(v, loc + (k,))
        elif isinstance(node, list):
            for k, v in enumerate(node):
                walk(v, loc + (k,))
        elif isinstance(node, int | float) and not isinstance(node, bool):
            path = ".".join(str(p) for p in loc)
            rows.append(_row(path, node, None, None, "setting", place(loc)))

    walk(scenario.content, ())
    return pd.DataFrame(rows, columns=list(PARAMS_COLUMNS))


def _row(path, value, rng, bounds, provenance, where) -> dict:
    return {
        "path": path,
        "value": float(value),
        "low": None if rng is None else float(rng[0]),
        "high": None if rng is None else float(rng[1]),
        "bounds": "" if bounds is None else f"[{bounds[0]:g}, {bounds[1]:g}]",
        "provenance": provenance,
        "where": where,
    }


def params_text(table) -> str:
    """The table as text: one line per number, provenance cut to fit."""
    lines = [f"{'path':<44} {'value':>10} {'range':<18} {'where':<28} provenance"]
    for r in table.itertuples(index=False):
        rng = "" if r.low != r.low or r.low is None else f"[{r.low:g}, {r.high:g}]"
        prov = r.provenance if len(r.provenance) <= 60 else r.provenance[:57] + "..."
        lines.append(f"{r.path:<44} {r.value:>10.6g} {rng:<18} {r.where:<28} {prov}")
    return "\n".join(lines)


def cmd_params(args) -> int:
    """Print every number of the scenario; with ``--csv``, write them too."""
    from sim.outputs.files import atomic_file
    from sim.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    csv = None
    if args.csv:
        csv = Path(args.csv)
        _refuse_existing(csv, args.force, "--csv")
        if not csv.parent.is_dir():
            raise UserError(f"--csv {csv}: the folder {csv.parent} does not exist")
    table = params_table(scenario)
    print(params_text(table))
    if csv is not None:
        with atomic_file(csv) as tmp:
            table.to_csv(tmp, index=False)
        print(f"wrote {csv} ({len(table)} numbers)", file=sys.stderr)
    return 0
