"""Which real country each scenario state is, in every source's own codes.

A scenario maps its state ids to countries (``observed: {codes: {AZ: AZE, EU: EU27}}``):
each value is an ISO3 code, a list of ISO3 codes (a group), or a known group name from
:data:`GROUPS`. The shipped table ``countries.csv`` gives, per ISO3 code, the
Correlates of War number (ideal points and ATOP), the ISO2 code of the roll calls
(``unvotes``' ``country_code``) and the SIPRI name.

Rules (see ``docs/DATA.md``):

- ``EU27`` is the 27 members since 1 February 2020, one fixed membership for every year
  (the United Kingdom never counts; members that joined late count from 1991 onwards
  wherever a source has them). A group's value is a mean or sum over members, as each
  observable says.
- Serbia (``SRB``) is COW 345 and the roll calls' ``YU``: one series for Yugoslavia,
  Serbia and Montenegro and Serbia.
- Russia's SIPRI series includes the Soviet Union's deliveries (all before 1992) as its
  predecessor's.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pandas as pd

from sim.errors import UserError

TABLE_FILE = Path(__file__).with_name("countries.csv")

#: Known groups: name -> ISO3 members.
GROUPS: dict[str, tuple[str, ...]] = {
    "EU27": (
        "AUT", "BEL", "BGR", "HRV", "CYP", "CZE", "DNK", "EST", "FIN", "FRA", "DEU", "GRC",
        "HUN", "IRL", "ITA", "LVA", "LTU", "LUX", "MLT", "NLD", "POL", "PRT", "ROU", "SVK",
        "SVN", "ESP", "SWE",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Country:
    """One row of ``countries.csv``."""

    iso3: str
    name: str
    cow: int
    iso2: str
    sipri: str
    sipri_predecessor: str = ""

    @property
    def sipri_names(self) -> tuple[str, ...]:
        """The SIPRI names counted as this country (its own and its predecessor's)."""
        return (self.sipri, self.sipri_predecessor) if self.sipri_predecessor else (self.sipri,)


@cache
def country_table() -> dict[str, Country]:
    """The code table, by ISO3 code."""
    table = pd.read_csv(TABLE_FILE, dtype=str, keep_default_na=False)
    return {
        r.iso3: Country(r.iso3, r.name, int(r.cow), r.iso2, r.sipri, r.sipri_predecessor)
        for r in table.itertuples(index=False)
    }


def _unknown(state: str, code: str) -> UserError:
    known = sorted(country_table()) + sorted(GROUPS)
    close = difflib.get_close_matches(code.upper(), known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return UserError(
        f"scenario state {state!r}: unknown country code {code!r} in observed.codes{hint}; "
        f"the code table (sim/observed/countries.csv) knows {', '.join(known)}"
    )


def members(state: str, value: str | Sequence[str]) -> tuple[Country, ...]:
    """The countries behind one mapping value (an ISO3 code, a list, or a group name)."""
    if isinstance(value, str):
        codes = GROUPS.get(value.strip().upper(), (value,))
    elif isinstance(value, Sequence) and value and all(isinstance(v, str) for v in value):
        codes = tuple(value)
    else:
        raise UserError(
            f"scenario state {state!r}: observed.codes must map it to an ISO3 code, a list "
            f"of ISO3 codes or a group name ({', '.join(GROUPS)}), got {value!r}"
        )
    table = country_table()
    out = []
    for code in codes:
        iso3 = code.strip().upper()
        if iso3 not in table:
            raise _unknown(state, code)
        out.append(table[iso3])
    return tuple(dict.fromkeys(out))


def resolve_codes(codes: Mapping[str, str | Sequence[str]]) -> dict[str, tuple[Country, ...]]:
    """Every scenario state's countries, checked against the code table."""
    return {state: members(state, value) for state, value in codes.items()}


def lookup(resolved: Mapping[str, tuple[Country, ...]], state: str) -> tuple[Country, ...]:
    """``state``'s countries; a :class:`UserError` when the scenario does not map it."""
    if state not in resolved:
        raise UserError(
            f"scenario state {state!r} has no code mapping: add it under observed.codes"
        )
    return resolved[state]


def require_in_source(
    resolved: Mapping[str, tuple[Country, ...]], present: set, key, source: str
) -> None:
    """Raise a :class:`UserError` naming the state, the code and the source file when a
    mapped country's code (``key(country)``) is not among the codes ``present``."""
    for state, group in resolved.items():
        for country in group:
            if key(country) not in present:
                raise UserError(
                    f"scenario state {state!r} is mapped to {country.iso3} ({country.name}, "
                    f"code {key(country)!r}), which {source} does not contain"
                )
