"""Alignment with more than two poles, and figures that skip what is undefined.

- ``pole_positions`` (the alignment vector) on hand-made matrices, and the alignment
  index as its special case (docs/ODD.md 7.6: ``AI_i = mean_{toward, j != i} T_ij -
  mean_{away, j != i} T_ij``, so ``alignment_index == position(toward) -
  position(away)``, NaN on both sides together);
- ``alignment_table`` on a real ensemble's ties;
- the figures draw no line and no legend entry for a state whose index is undefined,
  and say why;
- the Mongolia example (scenarios/examples/mongolia.yaml): how grouping the West into
  one pole changes what autonomy does (scenarios/README.md, "Poles").
"""

from __future__ import annotations

import copy
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

import sim  # noqa: E402
from sim.analysis.alignment import (  # noqa: E402
    alignment_table,
    pole_members,
    undefined_alignment,
)
from sim.drivers.ensemble import ensemble_ties, run_ensemble  # noqa: E402
from sim.kernel.indices import alignment_index, pole_positions  # noqa: E402
from sim.scenario import load_scenario, scenario_from_dict, with_overrides  # noqa: E402
from sim.world.compiled import world_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.yaml"
TEACHING = ROOT / "scenarios" / "teaching.yaml"
MONGOLIA = ROOT / "scenarios" / "examples" / "mongolia.yaml"
WEST = ["US", "JP", "EU", "KR"]

# ---- the kernel: pole positions on hand-made matrices ---------------------------------

T4 = np.array(
    [
        [0.0, 0.2, 0.4, -0.6],
        [0.1, 0.0, 0.3, 0.5],
        [-0.2, 0.8, 0.0, 0.0],
        [0.9, -0.4, 0.6, 0.0],
    ]
)
POLES = [np.array([0]), np.array([1, 2]), np.array([3])]  # A alone, B = {1, 2}, C alone


def test_pole_positions_known_answers():
    got = pole_positions(T4, POLES)
    want = np.array(
        [
            [np.nan, (0.2 + 0.4) / 2, -0.6],  # 0 is A's only member: NaN toward A
            [0.1, 0.3, 0.5],  # 1 toward B: its tie to 2 alone (itself left out)
            [-0.2, 0.8, 0.0],  # 2 toward B: its tie to 1 alone
            [0.9, (-0.4 + 0.6) / 2, np.nan],  # 3 is C's only member
        ]
    )
    assert got.shape == (4, 3)
    np.testing.assert_allclose(got, want, equal_nan=True)


def test_pole_positions_batch_and_empty_pole():
    batch = np.stack([T4, -T4, np.zeros((4, 4))])
    got = pole_positions(batch, [*POLES, np.array([], dtype=int)])
    assert got.shape == (3, 4, 4)
    np.testing.assert_allclose(got[1, :, :3], -pole_positions(T4, POLES), equal_nan=True)
    assert np.isnan(got[..., 3]).all()  # a pole with no member: no position
    assert np.array_equal(np.isnan(got[2]), np.isnan(got[0]))


def test_alignment_index_is_toward_minus_away_on_hand_made_ties():
    pos = pole_positions(T4, POLES)
    ai = alignment_index(T4, POLES[1], POLES[2])  # toward B, away C
    np.testing.assert_array_equal(ai, pos[:, 1] - pos[:, 2])
    assert np.isnan(ai[3]) and not np.isnan(ai[:3]).any()


def test_alignment_index_is_the_special_case_on_the_baseline():
    """ODD 7.6: AI_i = mean_{j in toward, j != i} T_ij - mean_{j in away, j != i} T_ij,
    i.e. position(toward) - position(away), exactly, and NaN exactly where either
    position is NaN (Russia, the only member of the away pole)."""
    scenario = load_scenario(BASELINE)
    w = world_for(scenario)
    T = ensemble_ties(scenario, [0, 1, 2])  # (R, S, N, N)
    members = pole_members(scenario)
    pos = pole_positions(T, [members["West"], members["Russia"]])
    ai = alignment_index(T, w.toward, w.away)
    np.testing.assert_array_equal(ai, pos[..., 0] - pos[..., 1])
    nan = np.isnan(ai)
    assert nan[..., w.index("RU")].all() and nan.sum() == nan[..., w.index("RU")].size


# ---- alignment_table on a real ensemble -----------------------------------------------


@pytest.fixture(scope="module")
def baseline_ensemble():
    return run_ensemble(load_scenario(BASELINE), 4, keep="ties")


def test_alignment_table_on_an_ensemble(baseline_ensemble):
    ens = baseline_ensemble
    w = ens.world
    table = alignment_table(ens.ties, ens.scenario)
    keys = ["replicate", "seed", "step", "date"]
    assert list(table.columns) == [*keys, "state", "pole", "position"]
    n_records = ens.ties[keys].drop_duplicates().shape[0]
    assert len(table) == n_records * w.n * 2
    assert list(table["pole"].cat.categories) == ["Russia", "West"]
    # known answers: AZ toward the West is the mean of its ties to the EU and the US
    ties = ens.ties.set_index(["replicate", "step", "state", "partner"])["tie"]
    row = table[(table["replicate"] == 2) & (table["step"] == 30) & (table["state"] == "AZ")]
    west = row.loc[row["pole"] == "West", "position"].item()
    assert west == pytest.approx((ties[2, 30, "AZ", "EU"] + ties[2, 30, "AZ", "US"]) / 2)
    # the EU toward the West is its tie to the US alone; Russia toward itself is NaN
    eu = table[(table["state"] == "EU") & (table["pole"] == "West")].reset_index(drop=True)
    us_tie = ens.ties[(ens.ties["state"] == "EU") & (ens.ties["partner"] == "US")]
    np.testing.assert_array_equal(eu["position"].to_numpy(), us_tie["tie"].to_numpy())
    ru = table[(table["state"] == "RU") & (table["pole"] == "Russia")]
    assert ru["position"].isna().all()
    assert table["position"].isna().sum() == len(ru)
    # the one-axis index of the indices table is West minus Russia, record for record
    wide = table.pivot_table(
        index=["replicate", "step", "state"],
        columns="pole",
        values="position",
        observed=True,
        dropna=False,
    )
    ix = ens.indices.set_index(["replicate", "step", "state"])["alignment_index"]
    diff = (wide["West"] - wide["Russia"]).reindex(ix.index)
    np.testing.assert_array_equal(diff.to_numpy(), ix.to_numpy())


def test_alignment_table_of_a_run_keeps_its_keys():
    result = sim.run(TEACHING, seed=3)
    table = alignment_table(result.ties, result.scenario)
    assert list(table.columns) == ["seed", "step", "date", "state", "pole", "position"]
    sm = table[table["state"] == "SM"]
    assert not sm["position"].isna().any()
    for sid, pole in (("EA", "East"), ("WE", "West")):  # each its pole's only member
        own = table[(table["state"] == sid) & (table["pole"] == pole)]
        assert own["position"].isna().all()


def test_undefined_alignment_says_why():
    assert undefined_alignment(load_scenario(BASELINE)) == {
        "RU": "the only member of its pole (Russia)"
    }
    assert set(undefined_alignment(load_scenario(TEACHING))) == {"EA", "WE"}
    assert set(undefined_alignment(load_scenario(MONGOLIA))) == {"CN"}
    d = copy.deepcopy(load_scenario(TEACHING).content)
    d.pop("alignment_axis")
    d.pop("validation", None)
    no_axis = undefined_alignment(scenario_from_dict(d))
    assert set(no_axis) == {"SM", "EA", "WE"}


# ---- figures skip what is undefined ----------------------------------------------------


def _legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def _all_nan_lines(ax) -> list:
    return [ln for ln in ax.get_lines() if np.isnan(np.asarray(ln.get_ydata(), float)).all()]


def test_run_figure_has_no_legend_entry_for_an_undefined_index():
    result = sim.run(TEACHING, seed=1)
    fig = result.figure()
    try:
        ax1 = fig.axes[0]
        texts = _legend_texts(ax1)
        assert texts == ["Smallland (SM)"]  # Eastland and Westland: no index, no entry
        assert not _all_nan_lines(ax1)
        notes = " ".join(t.get_text() for t in ax1.texts)
        assert "EA: the only member of its pole" in notes
        assert "WE: the only member of its pole" in notes
        assert len(fig.axes) == 2 and fig.get_figheight() == 8.5  # two poles: two panels
    finally:
        plt.close(fig)


def test_baseline_figure_leaves_russia_out_of_the_index_legend():
    fig = sim.run(BASELINE, seed=7).figure()
    try:
        texts = _legend_texts(fig.axes[0])
        assert "Russia (RU)" not in texts and "Azerbaijan (AZ)" in texts and len(texts) == 8
        assert "Russia (RU)" in _legend_texts(fig.axes[1])  # AZ's tie to Russia is drawn
        assert "RU: the only member of its pole" in " ".join(
            t.get_text() for t in fig.axes[0].texts
        )
    finally:
        plt.close(fig)


def test_run_figure_with_three_poles_shows_the_focus_alignment_vector():
    result = sim.run(MONGOLIA, seed=7)
    fig = result.figure()
    try:
        assert len(fig.axes) == 3
        top, middle, _ = fig.axes
        assert "China (CN)" not in _legend_texts(top)
        assert _legend_texts(middle) == ["Russia (RU)", "China (CN)", "West (US, JP, EU, KR)"]
        styles = {ln.get_linestyle() for ln in middle.get_lines() if ln.get_label()[0] != "_"}
        assert len(styles) == 3  # the poles differ by line style, not only by colour
        west = [ln for ln in middle.get_lines() if ln.get_label().startswith("West")][0]
        t = result.ties[result.ties["state"] == "MN"]
        want = t[t["partner"].isin(WEST)].groupby("step")["tie"].mean().to_numpy()
        np.testing.assert_allclose(np.asarray(west.get_ydata(), float), want)
    finally:
        plt.close(fig)


def test_ensemble_figure_skips_undefined_states_and_says_why():
    ens = run_ensemble(load_scenario(MONGOLIA), 5)
    fig = ens.figure()
    try:
        texts = _legend_texts(fig.axes[0])
        assert "CN median" not in texts and "RU median" in texts and "MN median" in texts
        assert not _all_nan_lines(fig.axes[0])
        assert "CN: the only member of its pole" in " ".join(
            t.get_text() for t in fig.axes[0].texts
        )
    finally:
        plt.close(fig)


def test_dashboard_charts_of_a_state_without_index_draw_no_empty_line():
    from sim.app import views
    from sim.app.classroom import ClassroomModel

    m = ClassroomModel(TEACHING, seed=2, player="EA")
    m.run(3)
    s = views.score(m)  # the Play tab: no alignment chart, the payoff chart stays
    assert s.alignment is None and s.payoff
    w = views.world_charts(m, "EA")  # the World tab says why instead of drawing nothing
    assert w.alignment is None and "has no alignment index" in w.note


# ---- the Mongolia example: pole grouping changes what autonomy does -------------------


def mongolia(west: list[str], autonomy: float):
    """The example with the West pole ``west`` and Mongolia's autonomy ``autonomy``."""
    d = copy.deepcopy(load_scenario(MONGOLIA).content)
    d["poles"]["West"] = list(west)
    return with_overrides(scenario_from_dict(d), {"states.MN.autonomy": autonomy})


def mongolia_means(west: list[str], autonomy: float, seeds: int) -> pd.Series:
    """Mongolia's ties and hedging index, averaged over records and seeds."""
    ens = run_ensemble(mongolia(west, autonomy), seeds, keep="ties")
    t = ens.ties[ens.ties["state"] == "MN"]
    out = t.groupby("partner", observed=True)["tie"].mean()
    out["West4"] = out[WEST].mean()
    out["hedging"] = ens.indices.loc[ens.indices["state"] == "MN", "hedging_index"].mean()
    return out


def test_mongolia_example_is_valid_and_small():
    scenario = load_scenario(MONGOLIA)
    assert len(scenario.state_ids) == 7 and scenario.spec.focus == "MN"
    assert list(scenario.spec.poles) == ["Russia", "China", "West"]


def test_mongolia_pole_grouping_changes_what_autonomy_does():
    """Direction only, over the README's 200 seeds.

    West as one pole {US, JP, EU, KR}: autonomy pushes Mongolia away from every Western
    member and lowers its hedging index. The US alone as the West pole: the same knob
    lifts the ties to Japan and Korea (small groups of their own). At autonomy 0 the
    grouping changes nothing in the ties (it enters the dynamics only through autonomy).
    """
    seeds = 200
    g0, g3 = mongolia_means(WEST, 0.0, seeds), mongolia_means(WEST, 3.0, seeds)
    u0, u3 = mongolia_means(["US"], 0.0, seeds), mongolia_means(["US"], 3.0, seeds)
    for sid in ("RU", "CN", *WEST):
        assert g0[sid] == u0[sid]  # same draws, same ties: the poles do not matter at 0
    for sid in WEST:
        assert g3[sid] < g0[sid] - 0.03, sid
    assert g3["hedging"] < g0["hedging"] - 0.05
    for sid in ("JP", "KR"):
        assert u3[sid] > u0[sid] + 0.05, sid
    assert u3["West4"] > u0["West4"] > g3["West4"]
