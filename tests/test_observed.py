"""The observed series (``sim/observed/``): settings, sources, codes and derivations.

Unit tests work on tiny hand-made frames and files with answers worked out by hand.
Tests that take the ``data_folder`` fixture read the real public files (never copied
into the repository) and check facts verified against them; they skip when the folder
is absent, or fail under ``MULTIVECTOR_REQUIRE_DATA=1``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.errors import UserError
from sim.observed import (
    COLUMNS,
    GROUPS,
    OBSERVABLES,
    SOURCES,
    atop,
    check_folder,
    countries,
    data_dir,
    describe_data_dir,
    format_report,
    observed_series,
    resolve_codes,
    resolve_data_dir,
    settings,
    sipri,
    sources,
    unga,
)
from sim.tools.cli_data import add_commands, dispatch

# --------------------------------------------------------------------------- settings


@pytest.fixture
def clean_settings(tmp_path, monkeypatch):
    """No env variable, an empty working directory and home, no default folder."""
    monkeypatch.delenv("MULTIVECTOR_DATA", raising=False)
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    monkeypatch.setattr(settings, "default_data_dir", lambda: tmp_path / "no-default")
    return tmp_path


def _folders(root: Path, *names: str) -> list[Path]:
    out = []
    for name in names:
        (root / name).mkdir()
        out.append((root / name).resolve())
    return out


def test_data_dir_precedence_explicit_env_config_default(clean_settings, monkeypatch):
    root = clean_settings
    explicit, env, config, default = _folders(root, "explicit", "env", "config", "default")
    monkeypatch.setattr(settings, "default_data_dir", lambda: default)
    assert resolve_data_dir().how == "default"
    assert data_dir() == default
    (Path.cwd() / "multivector.toml").write_text('data = "../config"\n')  # relative to file
    chosen = resolve_data_dir()
    assert (chosen.how, chosen.path) == ("config", config)
    assert "multivector.toml" in chosen.detail
    monkeypatch.setenv("MULTIVECTOR_DATA", str(env))
    assert resolve_data_dir().how == "env" and data_dir() == env
    assert data_dir(explicit) == explicit
    assert resolve_data_dir(explicit).how == "explicit"
    assert "--data" in describe_data_dir(explicit) and str(explicit) in describe_data_dir(explicit)


def test_user_config_file_is_read_when_no_local_one(clean_settings):
    (target,) = _folders(clean_settings, "userdata")
    user_config = Path.home() / ".config" / "multivector" / "config.toml"
    user_config.parent.mkdir(parents=True)
    user_config.write_text(f'data = "{target}"\n')
    assert resolve_data_dir().path == target
    assert resolve_data_dir().how == "config"


def test_no_data_dir_says_where_it_looked_and_how_to_set_it(clean_settings):
    with pytest.raises(UserError) as err:
        data_dir()
    text = str(err.value)
    for needle in ("--data DIR", "MULTIVECTOR_DATA", "multivector.toml", "docs/DATA.md"):
        assert needle in text
    assert err.value.exit_code == 2


def test_a_missing_or_non_folder_data_dir_is_a_user_error(clean_settings, monkeypatch):
    with pytest.raises(UserError, match="does not exist"):
        data_dir(clean_settings / "nowhere")
    a_file = clean_settings / "file.txt"
    a_file.write_text("x")
    with pytest.raises(UserError, match="is not a folder"):
        data_dir(a_file)
    monkeypatch.setenv("MULTIVECTOR_DATA", str(clean_settings / "gone"))
    with pytest.raises(UserError, match="MULTIVECTOR_DATA"):
        data_dir()


def test_a_bad_config_entry_is_a_user_error(clean_settings):
    (Path.cwd() / "multivector.toml").write_text("data = 3\n")
    with pytest.raises(UserError, match="folder path"):
        data_dir()
    (Path.cwd() / "multivector.toml").write_text("data = [\n")
    with pytest.raises(UserError, match="cannot read"):
        data_dir()


# --------------------------------------------------------------- a tiny data folder


def _write(path: Path, frame: pd.DataFrame) -> None:
    if path.suffix == ".gz":
        with gzip.open(path, "wt", newline="") as fh:
            frame.to_csv(fh, index=False)
    else:
        frame.to_csv(path, index=False)


def _ideal_points() -> pd.DataFrame:
    """USA (2), RUS (365), ARM (371), FRA (220) in 2000 and 2001; ARM has 10 votes in 2001."""
    rows = []
    for year in (2000, 2001):
        for ccode, iso3, ip, votes in ((2, "USA", 3.0, 50), (365, "RUS", -1.0, 50),
                                       (371, "ARM", 1.0, 50 if year == 2000 else 10),
                                       (220, "FRA", 2.0, 40)):  # fmt: skip
            rows.append(
                {"ccode": ccode, "session": year - 1945, "NVotesAll": votes,
                 "IdealPointAll": ip, "iso3c": iso3, "Countryname": iso3,
                 "USAgree": 0.4, "RUSSAgree": 0.6, "BrazilAgree": 0.5, "ChinaAgree": 0.5,
                 "IndiaAgree": 0.5, "IsraelAgree": 0.5, "year": year}
            )  # fmt: skip
    return pd.DataFrame(rows)


def _votes() -> pd.DataFrame:
    """Three roll calls in session 55 (year 2000); NA (Namibia) votes too."""
    table = [
        (1, "US", "yes"), (1, "RU", "yes"), (1, "AM", "no"), (1, "NA", "yes"),
        (2, "US", "yes"), (2, "RU", "abstain"),
        (3, "US", "no"), (3, "RU", "yes"), (3, "AM", "abstain"), (3, "FR", "absent"),
        (1, "FR", "yes"), (2, "FR", "yes"), (2, "AM", "yes"),
    ]  # fmt: skip
    return pd.DataFrame(
        [{"rcid": r, "session": 55.0, "date": "2000-10-01", "country_code": c,
          "country": c, "vote": v} for r, c, v in table]
    )  # fmt: skip


_SIPRI_COLUMNS = [
    "Recipient", "Supplier", "Year of order", " ", "Number ordered", " .1",
    "Weapon designation", "Weapon description", "Number delivered", " .2",
    "Year(s) of delivery", "status", "Comments", "SIPRI TIV per unit",
    "SIPRI TIV for total order", "SIPRI TIV of delivered weapons",
    "deliveries_after_2021_removed",
]  # fmt: skip


def _deal(recipient, supplier, years, tiv, ongoing=False, flags=("", "", "")):
    return dict(zip(_SIPRI_COLUMNS, [
        recipient, supplier, "2010", flags[0], "1", flags[1], "X", "tank", "1", flags[2],
        years, "New", "", "1", str(tiv), str(tiv), str(ongoing),
    ], strict=True))  # fmt: skip


def _sipri() -> pd.DataFrame:
    rows = [
        _deal("Armenia", "Russia", "1999; 2000", 20, flags=("?", "?", "?")),
        _deal("Armenia", "United States", "2000", 10),
        _deal("Armenia", "France", "2000", 10),
        _deal("Armenia", "Soviet Union", "1990", 5),
        _deal("Russia", "France", "2000", 4),
        _deal("United States", "France", "2001", 4),
        _deal("France", "United States", "2000", 4),
        _deal("Armenia", "Russia", "2001", ""),  # under way in 2021: no delivered TIV
    ]
    rows[-1]["deliveries_after_2021_removed"] = "True"
    return pd.DataFrame(rows, columns=_SIPRI_COLUMNS)


def _atop() -> pd.DataFrame:
    return pd.DataFrame(
        [(371, 365, 2000, 1, 0, 0, 1, 1), (365, 371, 2000, 1, 0, 0, 1, 1),
         (2, 220, 2000, 1, 0, 0, 0, 1), (220, 2, 2000, 1, 0, 0, 0, 1)],
        columns=["ccode1", "ccode2", "year", "atop_defense", "atop_offense",
                 "atop_neutral", "atop_nonagg", "atop_consul"],
    ).astype(float)  # fmt: skip


def _roll_calls() -> pd.DataFrame:
    return pd.DataFrame(
        {"rcid": [1, 2, 3], "session": [55.0] * 3, "date": ["2000-10-01"] * 3,
         "unres": ["R/55/1", "R/55/2", "R/55/3"], "short": "x", "descr": "y"}
    )  # fmt: skip


def _make_folder(folder: Path, sums: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    frames = {
        "ideal_points": _ideal_points(),
        "votes": _votes(),
        "roll_calls": _roll_calls(),
        "sipri": _sipri(),
        "atop": _atop(),
    }
    for source in SOURCES:
        _write(folder / source.file, frames[source.key])
    if sums:
        lines = [
            f"{hashlib.sha256((folder / s.file).read_bytes()).hexdigest()}  {s.file}"
            for s in SOURCES
        ]
        (folder / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def tiny_folder(tmp_path) -> Path:
    return _make_folder(tmp_path / "data")


# ------------------------------------------------------------------ sources and check


def test_sources_name_the_five_files_and_their_publishers():
    files = [s.file for s in SOURCES]
    assert files == [
        "unga_ideal_points_1991_2021.csv",
        "unga_roll_call_votes_1991_2019.csv.gz",
        "unga_roll_calls_1991_2019.csv.gz",
        "sipri_arms_transfers_orders_to_2021.csv",
        "atop_alliance_dyad_years_1991_2018.csv.gz",
    ]
    by_key = sources.BY_KEY
    assert "1902.1/12379" in by_key["ideal_points"].url
    assert "unvotes" in by_key["votes"].url
    assert by_key["sipri"].url == "https://www.sipri.org/databases/armstransfers"
    assert by_key["sipri"].citation == "Information from the SIPRI Arms Transfers Database"
    assert by_key["atop"].url == "http://www.atopdata.org/"


def test_check_folder_on_a_complete_tiny_folder(tiny_folder):
    report = check_folder(tiny_folder)
    assert report.ok and report.has_sums
    years = {s.source.key: (s.first_year, s.last_year, s.checksum) for s in report.statuses}
    assert years["ideal_points"] == (2000, 2001, "ok")
    assert years["votes"] == (2000, 2000, "ok")  # session 55 + 1945
    assert years["sipri"] == (2010, 2010, "ok")
    assert "all five sources present and matching" in format_report(report)


def test_check_folder_reports_missing_mismatched_and_unlisted(tiny_folder):
    (tiny_folder / SOURCES[3].file).unlink()
    with open(tiny_folder / SOURCES[4].file, "ab") as fh:
        fh.write(b"\n")
    sums = (tiny_folder / "SHA256SUMS").read_text().splitlines()
    (tiny_folder / "SHA256SUMS").write_text("\n".join(sums[1:]) + "\n")
    report = check_folder(tiny_folder)
    assert not report.ok
    assert report.missing == [SOURCES[3].file]
    assert report.mismatched == [SOURCES[4].file]
    assert report.unlisted == [SOURCES[0].file]
    text = format_report(report)
    assert "MISSING" in text and "MISMATCH" in text and "not listed" in text


def test_check_folder_without_sums_checks_presence_only(tmp_path):
    folder = _make_folder(tmp_path / "d", sums=False)
    report = check_folder(folder)
    assert report.ok and not report.has_sums
    assert "no SHA256SUMS" in format_report(report)


def _parser():
    parser = argparse.ArgumentParser(prog="multivector")
    add_commands(parser.add_subparsers(dest="command"))
    return parser


def test_cli_data_check_exit_codes(tiny_folder, tmp_path, capsys):
    parser = _parser()
    assert dispatch(parser.parse_args(["data", "check", str(tiny_folder)])) == 0
    assert "all five sources present" in capsys.readouterr().out
    (tiny_folder / SOURCES[1].file).unlink()
    assert dispatch(parser.parse_args(["data", "check", "--data", str(tiny_folder)])) == 1
    assert SOURCES[1].file in capsys.readouterr().out
    with pytest.raises(UserError) as err:
        dispatch(parser.parse_args(["data", "check", str(tmp_path / "nowhere")]))
    assert err.value.exit_code == 2


def test_cli_data_dispatch_ignores_other_commands():
    assert dispatch(argparse.Namespace(command="run")) is None


def test_parsed_frames_are_cached_per_path_mtime_and_size(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a\n1\n")
    calls = []

    def parse(p):
        calls.append(p)
        return pd.read_csv(p)

    sources._cached.cache_clear()
    assert sources.cached_frame(path, parse)["a"].tolist() == [1]
    assert sources.cached_frame(path, parse)["a"].tolist() == [1]
    assert len(calls) == 1
    path.write_text("a\n1\n22\n")
    assert sources.cached_frame(path, parse)["a"].tolist() == [1, 22]
    assert len(calls) == 2


# -------------------------------------------------------------------------- codes


def test_eu27_is_the_27_members_since_2020_without_the_uk():
    eu = GROUPS["EU27"]
    assert len(eu) == len(set(eu)) == 27
    assert "GBR" not in eu and {"DEU", "FRA", "HRV", "CYP"} <= set(eu)


def test_code_table_covers_the_scenario_countries():
    table = countries.country_table()
    needed = "AZE RUS TUR IRN USA ARM ISR GEO CHN KAZ SRB MNG UKR BLR IND BRA".split()
    assert set(needed) | set(GROUPS["EU27"]) <= set(table)
    assert table["TUR"].sipri == "Turkiye" and table["TUR"].cow == 640
    assert table["RUS"].sipri_names == ("Russia", "Soviet Union")
    assert table["SRB"].iso2 == "YU" and table["SRB"].cow == 345


def test_resolve_codes_accepts_codes_lists_and_groups():
    resolved = resolve_codes({"AZ": "AZE", "EU": "EU27", "CAU": ["ARM", "geo"]})
    assert [c.iso3 for c in resolved["AZ"]] == ["AZE"]
    assert len(resolved["EU"]) == 27
    assert [c.iso3 for c in resolved["CAU"]] == ["ARM", "GEO"]


def test_unknown_code_names_the_state_the_code_and_a_close_match():
    with pytest.raises(UserError) as err:
        resolve_codes({"AZ": "AZR"})
    text = str(err.value)
    assert "'AZ'" in text and "'AZR'" in text and "AZE" in text and "countries.csv" in text
    with pytest.raises(UserError, match="ISO3 code"):
        resolve_codes({"AZ": 7})


def test_unmapped_state_message():
    with pytest.raises(UserError) as err:
        countries.lookup(resolve_codes({"AZ": "AZE"}), "XX")
    assert str(err.value) == (
        "scenario state 'XX' has no code mapping: add it under observed.codes"
    )


def test_code_absent_from_a_source_names_state_code_and_source():
    resolved = resolve_codes({"AZ": "AZE"})
    with pytest.raises(UserError) as err:
        countries.require_in_source(resolved, {"AM"}, lambda c: c.iso2, "votes.csv")
    text = str(err.value)
    assert "'AZ'" in text and "AZE" in text and "'AZ'" in text and "votes.csv" in text


# ------------------------------------------------------------------- UN derivations


def _scores() -> pd.DataFrame:
    """Year 1991: roll call 1: A yes, B yes, C no; 2: A yes, B abstain, C absent;
    3: A no, B yes, C abstain. Year 1992: roll call 4: A yes, B no."""
    raw = pd.DataFrame(
        [(1, 46, "A", "yes"), (1, 46, "B", "yes"), (1, 46, "C", "no"),
         (2, 46, "A", "yes"), (2, 46, "B", "abstain"), (2, 46, "C", "absent"),
         (3, 46, "A", "no"), (3, 46, "B", "yes"), (3, 46, "C", "abstain"),
         (4, 47, "A", "yes"), (4, 47, "B", "no")],
        columns=["rcid", "session", "country_code", "vote"],
    )  # fmt: skip
    votes = unga.vote_scores(raw)
    assert len(votes) == 10  # the absent vote is dropped
    return unga.score_table(votes, ["A", "B", "C"])


def _value(frame: pd.DataFrame, **where) -> pd.Series:
    mask = np.ones(len(frame), dtype=bool)
    for column, wanted in where.items():
        mask &= frame[column].to_numpy() == wanted
    return frame[mask]


def test_vote_scores_year_is_session_plus_1945():
    raw = pd.DataFrame({"rcid": [9], "session": [74.0], "country_code": ["NA"], "vote": ["no"]})
    votes = unga.vote_scores(raw)
    assert votes.to_dict("records") == [{"rcid": 9, "year": 2019, "country": "NA", "score": 0.0}]


def test_pairwise_agreement_voeten_convention_by_hand():
    pairwise = unga.pairwise_agreement(_scores())
    ab = _value(pairwise, year=1991, a="A", b="B").iloc[0]
    assert (ab["value"], ab["n"]) == (pytest.approx((1 + 0.5 + 0) / 3), 3)
    ac = _value(pairwise, year=1991, a="A", b="C").iloc[0]
    assert (ac["value"], ac["n"]) == (pytest.approx((0 + 0.5) / 2), 2)
    bc = _value(pairwise, year=1991, a="B", b="C").iloc[0]
    assert (bc["value"], bc["n"]) == (pytest.approx((0 + 0.5) / 2), 2)
    assert _value(pairwise, year=1991, a="C", b="A").iloc[0]["value"] == ac["value"]
    assert _value(pairwise, year=1991, a="A", b="A").iloc[0]["value"] == 1.0
    assert _value(pairwise, year=1992, a="A", b="B").iloc[0]["value"] == 0.0
    assert _value(pairwise, year=1992, a="A", b="C").empty  # C did not vote in 1992


def test_group_agreement_is_the_mean_of_members_with_total_n():
    pairwise = unga.pairwise_agreement(_scores())
    group = unga.group_agreement(pairwise, ["A"], ["B", "C"])
    row = group[group["year"] == 1991].iloc[0]
    assert row["value"] == pytest.approx((0.5 + 0.25) / 2) and row["n"] == 5
    row = group[group["year"] == 1992].iloc[0]  # only B voted with A
    assert row["value"] == 0.0 and row["n"] == 1


def test_parse_votes_keeps_namibia(tmp_path):
    path = tmp_path / "v.csv.gz"
    _write(path, _votes())
    votes = unga.parse_votes(path)
    assert "NA" in set(votes["country"])
    assert len(votes) == len(_votes()) - 1  # the absent vote


def test_bsv_agreement_masks_few_votes_and_averages_groups():
    ip = pd.DataFrame(
        {"ccode": [1, 2, 3], "year": 2000, "NVotesAll": [30, 10, 25],
         "IdealPointAll": 0.0, "USAgree": [0.4, 0.9, 0.6]}
    )  # fmt: skip
    group = unga.bsv_agreement(ip, [1, 2, 3], "USA")
    assert group.to_dict("records") == [{"year": 2000, "value": pytest.approx(0.5), "n": 55}]
    assert unga.bsv_agreement(ip, [2], "USA").empty


def test_ideal_distance_and_axis_by_hand():
    ip = pd.DataFrame(
        {"ccode": [2, 365, 9, 2, 365], "year": [2000, 2000, 2000, 2001, 2001],
         "NVotesAll": [50, 40, 30, 50, 50], "IdealPointAll": [3.0, -1.0, 1.0, 1.0, 1.0]}
    )  # fmt: skip
    us, ru, x = (unga.mean_ideal_point(ip, [c]) for c in (2, 365, 9))
    dist = unga.ideal_distance(us, ru)
    assert dist.iloc[0].to_dict() == {"year": 2000, "value": 4.0, "n": 40}
    axis = unga.ideal_axis(x, us, ru)
    assert axis.to_dict("records") == [{"year": 2000, "value": 0.5, "n": 30}]
    assert unga.ideal_axis(us, us, ru)["value"].tolist() == [1.0]  # 2001: anchors coincide
    assert unga.ideal_axis(ru, us, ru)["value"].tolist() == [0.0]
    group = unga.mean_ideal_point(ip, [2, 9])  # the group's point is its members' mean: 2
    assert unga.ideal_axis(group, us, ru)["value"].tolist() == [0.75]


# ---------------------------------------------------------------- SIPRI derivations


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("", ()),  # nothing delivered (the file's empty cells)
        ("2018", (2018,)),  # one year
        ("2015; 2016; 2017", (2015, 2016, 2017)),  # the file's list format
        ("2021; 2019", (2019, 2021)),  # gaps and order kept as years
        ("2015-2017", (2015, 2016, 2017)),  # a range (not in the current file)
        (" 2015 , 2016 ", (2015, 2016)),  # commas and spaces
    ],
)
def test_parse_delivery_years(text, years):
    assert sipri.parse_delivery_years(text) == years


@pytest.mark.parametrize("text", ["about 2015", "2017-2015", "15"])
def test_unreadable_delivery_years_are_an_error(text):
    with pytest.raises(ValueError, match="unreadable"):
        sipri.parse_delivery_years(text)


def test_repair_split_rows_moves_tivs_back_or_drops_the_stray_row():
    first = _deal("Thailand", "Ukraine", "2010; 2012", "")
    first.update({"SIPRI TIV per unit": "", "SIPRI TIV for total order": ""})
    stray = dict.fromkeys(_SIPRI_COLUMNS, "") | {
        "Supplier": "0.25", "Year of order": "3.5", " ": "3.25",
    }  # fmt: skip
    complete = _deal("Chad", "France", "2011", 7)
    raw = pd.DataFrame([first, stray, complete, stray], columns=_SIPRI_COLUMNS)
    fixed, moved, dropped = sipri.repair_split_rows(raw)
    assert (moved, dropped) == (1, 1)
    assert fixed["Recipient"].tolist() == ["Thailand", "Chad"]
    assert fixed.loc[0, "SIPRI TIV of delivered weapons"] == "3.25"
    assert fixed.loc[0, "SIPRI TIV per unit"] == "0.25"
    assert fixed.loc[1, "SIPRI TIV of delivered weapons"] == "7"


def test_annual_deliveries_spread_tiv_evenly_over_listed_years():
    deals = pd.DataFrame(
        {"deal": [0, 1, 2], "recipient": "R", "supplier": ["S", "S", "T"],
         "delivery_years": [(2015, 2016, 2018), (), (2017,)],
         "tiv_delivered": [30.0, 5.0, np.nan]}
    )  # fmt: skip
    annual = sipri.annual_deliveries(deals)
    assert annual[["deal", "year", "tiv"]].to_dict("records") == [
        {"deal": 0, "year": 2015, "tiv": 10.0},
        {"deal": 0, "year": 2016, "tiv": 10.0},
        {"deal": 0, "year": 2018, "tiv": 10.0},
    ]


def _annual() -> pd.DataFrame:
    return pd.DataFrame(
        [(0, "R", "S1", 2014, 10.0), (0, "R", "S1", 2016, 10.0), (1, "R", "S2", 2015, 20.0),
         (2, "R", "S3", 2018, 60.0), (3, "Q", "S1", 2018, 99.0), (4, "R2", "S1", 2018, 5.0)],
        columns=["deal", "recipient", "supplier", "year", "tiv"],
    )  # fmt: skip


def test_supplier_shares_over_a_window_by_hand():
    shares = sipri.supplier_shares(
        _annual(), ["R"], {"a": ["S1"], "b": ["S2"], "ab": ["S1", "S2"]}, [2018], window=5
    )
    got = {r.partner: (r.value, r.n) for r in shares.itertuples()}
    # 2014-2018: S1 20, S2 20, S3 (not named) 60: the denominator counts all 100
    assert got == {"a": (0.2, 1), "b": (0.2, 1), "ab": (0.4, 2)}


def test_supplier_shares_windows_and_groups():
    annual = _annual()
    one = sipri.supplier_shares(annual, ["R"], {"b": ["S2"]}, [2015, 2017], window=1)
    assert one[["year", "value"]].to_dict("records") == [{"year": 2015, "value": 1.0}]
    group = sipri.supplier_shares(annual, ["R", "R2"], {"a": ["S1"]}, [2018], window=5)
    assert group["value"].tolist() == [pytest.approx(25 / 105)]
    assert sipri.supplier_shares(annual, ["nobody"], {"a": ["S1"]}, [2018]).empty
    with pytest.raises(ValueError):
        sipri.supplier_shares(annual, ["R"], {"a": ["S1"]}, [2018], window=0)


def test_parse_sipri_reads_flags_ongoing_deals_and_blank_tivs(tmp_path):
    path = tmp_path / "s.csv"
    _write(path, _sipri())
    deals = sipri.parse_sipri(path)
    first = deals.iloc[0]
    assert first["delivery_years"] == (1999, 2000) and first["tiv_delivered"] == 20.0
    assert first["order_year_uncertain"] and first["number_delivered_uncertain"]
    assert deals["ongoing"].tolist()[-1] and math.isnan(deals["tiv_delivered"].iloc[-1])


# ----------------------------------------------------------------- ATOP derivations


def test_obligation_share_directed_absent_zero_and_groups():
    frame = pd.DataFrame(
        {"ccode1": [1, 1], "ccode2": [2, 3], "year": [2000, 2000],
         "atop_defense": [1, 0], "atop_consul": [1, 1]}
    )  # fmt: skip
    single = atop.obligation_share(frame, [1], [2], "atop_defense", [2000, 2001])
    assert single.to_dict("records") == [
        {"year": 2000, "value": 1.0, "n": 1},
        {"year": 2001, "value": 0.0, "n": 1},  # not listed: no obligation
    ]
    back = atop.obligation_share(frame, [2], [1], "atop_defense", [2000])
    assert back["value"].tolist() == [0.0]  # directed
    group = atop.obligation_share(frame, [1], [2, 3], "atop_defense", [2000])
    assert group.to_dict("records") == [{"year": 2000, "value": 0.5, "n": 2}]
    assert atop.obligation_share(frame, [1], [2, 3], "atop_consul", [2000])["value"][0] == 1.0


# ------------------------------------------------- observed_series on the tiny folder


CODES = {"US": "USA", "RU": "RUS", "AM": "ARM", "FR": "FRA"}


def test_observed_series_tidy_table_on_a_tiny_folder(tiny_folder):
    df = observed_series(CODES, tiny_folder, axis=("US", "RU"))
    assert list(df.columns) == COLUMNS
    assert set(df["observable"]) == set(OBSERVABLES)
    assert df["year"].dtype == "int64" and df["n"].dtype == "int64"
    assert df["value"].dtype == "float64"
    rows = df.set_index(["observable", "state", "partner", "year"])
    # unga: roll calls 1 (US yes, AM no) and 2 (US yes, AM yes); 3: AM abstains, US no
    assert rows.loc[("unga_agreement", "US", "AM", 2000), "value"] == pytest.approx(1.5 / 3)
    assert rows.loc[("unga_agreement", "US", "AM", 2000), "n"] == 3
    assert rows.loc[("bsv_agreement", "AM", "US", 2000), "value"] == 0.4
    assert ("bsv_agreement", "AM", "US", 2001) not in rows.index  # 10 votes: masked
    assert ("bsv_agreement", "AM", "FR", 2000) not in rows.index  # no BSV column for FRA
    assert rows.loc[("ideal_axis", "AM", "", 2000), "value"] == 0.5
    assert rows.loc[("ideal_distance", "US", "RU", 2001), "value"] == 4.0
    # Armenia 1996-2000: Russia 20 (10 in 1999, 10 in 2000), the US 10, France 10; the
    # Soviet Union's 1990 delivery is outside the window, the ongoing deal has no TIV
    assert rows.loc[("arms_share", "AM", "RU", 2000), "value"] == pytest.approx(20 / 40)
    assert rows.loc[("arms_share", "AM", "RU", 2000), "n"] == 1
    assert rows.loc[("arms_share", "AM", "FR", 2000), "value"] == pytest.approx(10 / 40)
    assert rows.loc[("arms_share", "AM", "RU", 1991), "value"] == 1.0  # Soviet Union, 1990
    assert rows.loc[("alliance_defense", "AM", "RU", 2000), "value"] == 1.0
    assert rows.loc[("alliance_defense", "AM", "US", 2000), "value"] == 0.0
    assert df["source"].isin([s.file for s in SOURCES]).all()


def test_observed_series_provenance(tiny_folder):
    df = observed_series(CODES, tiny_folder, observables=["arms_share"], arms_window=3)
    prov = df.attrs["provenance"]
    assert prov["data_dir"] == str(tiny_folder.resolve())
    assert prov["data_dir_from"] == "--data"
    sums = sources.read_sums(tiny_folder)
    assert prov["files"] == {SOURCES[3].file: sums[SOURCES[3].file]}
    assert prov["choices"]["arms_window_years"] == 3
    assert prov["choices"]["sipri_ongoing_deals_excluded"] == 1
    assert prov["codes"]["AM"] == ["ARM"] and prov["version"]
    chosen = settings.DataDir(tiny_folder, "env", "the environment variable MULTIVECTOR_DATA")
    again = observed_series(CODES, chosen, observables=["alliance_consul"])
    assert again.attrs["provenance"]["data_dir_from"] == chosen.detail


def test_observed_series_groups_and_years(tiny_folder):
    codes = {"US": "USA", "RU": "RUS", "G": ["ARM", "FRA"]}
    df = observed_series(codes, tiny_folder, observables=["unga_agreement", "alliance_defense"],
                         years=[2000])  # fmt: skip
    assert set(df["year"]) == {2000}
    rows = df.set_index(["observable", "state", "partner"])
    # US with AM 0.5 (3 roll calls), with FR (1, 1; roll call 3 absent): 1.0 (2)
    assert rows.loc[("unga_agreement", "US", "G"), "value"] == pytest.approx(0.75)
    assert rows.loc[("unga_agreement", "US", "G"), "n"] == 5
    assert rows.loc[("alliance_defense", "RU", "G"), "value"] == 0.5  # ARM yes, FRA no


def test_one_state_has_no_pairs_but_its_axis_position(tiny_folder):
    empty = observed_series({"US": "USA"}, tiny_folder)
    assert empty.empty and list(empty.columns) == COLUMNS
    assert "provenance" in empty.attrs
    axis = observed_series({"US": "USA", "RU": "RUS"}, tiny_folder, observables=["ideal_axis"],
                           axis=("US", "RU"))  # fmt: skip
    assert axis.groupby("state")["value"].first().to_dict() == {"RU": 0.0, "US": 1.0}


def test_observed_series_errors(tiny_folder):
    with pytest.raises(UserError, match="unknown observable"):
        observed_series(CODES, tiny_folder, observables=["gdp"])
    with pytest.raises(UserError, match="has no code mapping: add it under observed.codes"):
        observed_series(CODES, tiny_folder, observables=["ideal_axis"], axis=("US", "XX"))
    with pytest.raises(UserError, match="needs axis"):
        observed_series(CODES, tiny_folder, observables=["ideal_axis"])
    with pytest.raises(UserError, match=r"'GE'.*GEO.*unga_ideal_points_1991_2021\.csv"):
        observed_series({"GE": "GEO", **CODES}, tiny_folder, observables=["ideal_distance"])
    with pytest.raises(UserError, match="arms_window"):
        observed_series(CODES, tiny_folder, arms_window=0)
    (tiny_folder / SOURCES[4].file).unlink()
    with pytest.raises(UserError, match="atop_alliance.*data check"):
        observed_series(CODES, tiny_folder, observables=["alliance_consul"])


def test_observables_are_described():
    assert set(OBSERVABLES) == {
        "unga_agreement", "bsv_agreement", "ideal_distance", "ideal_axis", "arms_share",
        "alliance_defense", "alliance_nonagg", "alliance_consul", "alliance_neutral",
        "alliance_offense",
    }  # fmt: skip
    assert str(OBSERVABLES["unga_agreement"]).endswith("(1991-2019)")
    assert OBSERVABLES["alliance_defense"].last_year == 2018


# ------------------------------------------------------------------- the real data


BASELINE = {
    "AZ": "AZE", "RU": "RUS", "TR": "TUR", "IR": "IRN", "EU": "EU27", "US": "USA",
    "AM": "ARM", "IL": "ISR", "GE": "GEO",
}  # fmt: skip


@pytest.fixture(scope="module")
def baseline_series(data_folder):
    return observed_series(BASELINE, data_folder, axis=("US", "RU"))


def _series(df, observable, state, partner=""):
    rows = df[(df["observable"] == observable) & (df["state"] == state)]
    return rows[rows["partner"] == partner].set_index("year")


def test_real_folder_check(data_folder):
    report = check_folder(data_folder)
    assert report.ok, format_report(report)
    spans = {s.source.key: (s.first_year, s.last_year) for s in report.statuses}
    assert spans["ideal_points"] == (1991, 2021)
    assert spans["votes"] == spans["roll_calls"] == (1991, 2019)
    assert spans["sipri"][1] == 2021
    assert spans["atop"] == (1991, 2018)


def test_real_folder_with_a_file_missing_exits_1(data_folder, tmp_path, capsys):
    for source in SOURCES[1:]:
        (tmp_path / source.file).symlink_to(data_folder / source.file)
    (tmp_path / "SHA256SUMS").symlink_to(data_folder / "SHA256SUMS")
    assert dispatch(_parser().parse_args(["data", "check", str(tmp_path)])) == 1
    out = capsys.readouterr().out
    assert f"missing: {SOURCES[0].file}" in out


def test_code_table_matches_the_sources(data_folder):
    ip = pd.read_csv(data_folder / SOURCES[0].file, usecols=["ccode", "iso3c"])
    cow_of = dict(zip(ip["iso3c"], ip["ccode"], strict=True))
    iso2 = set(unga.parse_votes(data_folder / SOURCES[1].file)["country"])
    deals = sipri.parse_sipri(data_folder / SOURCES[3].file)
    names = set(deals["recipient"]) | set(deals["supplier"])
    for country in countries.country_table().values():
        iso3 = "YUG" if country.iso3 == "SRB" else country.iso3  # BSV spells Serbia YUG
        assert cow_of[iso3] == country.cow, country
        assert country.iso2 in iso2, country
        assert set(country.sipri_names) <= names, country


def test_us_agrees_with_itself(data_folder):
    votes = unga.parse_votes(data_folder / SOURCES[1].file)
    pairwise = unga.pairwise_agreement(unga.score_table(votes, ["US"]))
    assert len(pairwise) == 29 and (pairwise["value"] == 1.0).all()


def test_azerbaijan_and_armenia_agree_on_most_un_votes(baseline_series):
    # The README says "about 70%"; under Voeten's convention the data give 0.84-0.94 a
    # year over 1992-2019 (share of identical votes: about 0.8): high, despite the war.
    az_am = _series(baseline_series, "unga_agreement", "AZ", "AM").loc[1992:2019, "value"]
    assert len(az_am) == 28
    assert az_am.between(0.8, 0.95).all() and az_am.mean() == pytest.approx(0.88, abs=0.02)
    am_az = _series(baseline_series, "unga_agreement", "AM", "AZ").loc[1992:2019, "value"]
    assert np.allclose(az_am, am_az)


def test_azerbaijan_arms_shares_2014_2018_match_sipri(baseline_series):
    # scenarios/baseline.yaml quotes SIPRI: Russia 51%, Israel 43%, Turkiye 3% of
    # Azerbaijan's imports 2014-18; spreading TIVs evenly over delivery years gives
    # 0.47, 0.43 and 0.03.
    rows = baseline_series[
        (baseline_series["observable"] == "arms_share") & (baseline_series["state"] == "AZ")
        & (baseline_series["year"] == 2018)
    ].set_index("partner")["value"]  # fmt: skip
    assert rows["RU"] == pytest.approx(0.51, abs=0.05)
    assert rows["IL"] == pytest.approx(0.43, abs=0.02)
    assert rows["TR"] == pytest.approx(0.03, abs=0.01)


def test_russia_is_armenias_largest_arms_supplier_2014_2018(baseline_series):
    rows = baseline_series[
        (baseline_series["observable"] == "arms_share") & (baseline_series["state"] == "AM")
        & (baseline_series["year"] == 2018)
    ].set_index("partner")["value"]  # fmt: skip
    assert rows.idxmax() == "RU" and rows["RU"] > 0.9


def test_arms_shares_sum_to_at_most_one(baseline_series):
    arms = baseline_series[baseline_series["observable"] == "arms_share"]
    assert arms["value"].between(0, 1).all()
    assert (arms.groupby(["state", "year"])["value"].sum() <= 1 + 1e-9).all()
    assert arms["year"].max() == 2021


def test_alliance_facts(baseline_series):
    def defense(state, partner):
        return _series(baseline_series, "alliance_defense", state, partner)["value"]

    us_il = defense("US", "IL")  # ATOP: a US defence pledge to Israel in 1991 only
    assert us_il[1991] == 1.0 and (us_il.loc[1992:2018] == 0).all()
    assert (defense("IL", "US") == 0).all()  # directed: none from Israel
    assert (_series(baseline_series, "alliance_consul", "IL", "US")["value"][1991]) == 1.0
    assert (defense("AM", "RU").loc[1992:2018] == 1).all()  # the Tashkent treaty / CSTO
    assert (defense("TR", "US") == 1).all()  # NATO
    assert defense("US", "TR").index.tolist() == list(range(1991, 2019))
    eu_us = defense("EU", "US")  # the share of EU members with a US defence pledge
    assert eu_us[2018] == pytest.approx(21 / 27)  # the 21 EU members in NATO in 2018


def test_ideal_axis_anchors(baseline_series):
    us = _series(baseline_series, "ideal_axis", "US")["value"]
    ru = _series(baseline_series, "ideal_axis", "RU")["value"]
    assert len(us) == 31 and np.allclose(us, 1.0) and np.allclose(ru, 0.0)
    # BSV's US is far from everyone: the EU sits about a third of the way from Russia
    # (0.31-0.43 over 2000-2021), Iran beyond Russia, Azerbaijan near or beyond Russia
    eu = _series(baseline_series, "ideal_axis", "EU")["value"].loc[2000:2021]
    assert eu.between(0.3, 0.45).all()
    assert (_series(baseline_series, "ideal_axis", "IR")["value"] < 0).all()
    az = _series(baseline_series, "ideal_axis", "AZ")["value"].loc[2000:2021]
    assert (az < eu).all() and (az < 0.05).all()


def test_bsv_agreement_is_symmetric_and_masked(baseline_series):
    us_ru = _series(baseline_series, "bsv_agreement", "US", "RU")["value"]
    ru_us = _series(baseline_series, "bsv_agreement", "RU", "US")["value"]
    assert np.allclose(us_ru, ru_us.reindex(us_ru.index), atol=1e-6)
    bsv = baseline_series[baseline_series["observable"] == "bsv_agreement"]
    assert set(bsv["partner"]) == {"US", "RU", "IL"}
    assert (bsv[bsv["state"] != "EU"]["n"] >= 20).all()


def test_provenance_checksums_match_the_folder(baseline_series, data_folder):
    prov = baseline_series.attrs["provenance"]
    assert prov["files"].items() <= sources.read_sums(data_folder).items()
    assert len(prov["files"]) == 4  # the roll-call list itself is not needed
