"""The calendar of a scenario: periods, their dates, and the dates of the records.

Time runs in periods of one ``time.step`` (a month, a quarter or a year). Period 0 starts
on the first day of the month of ``time.start``; period ``p`` starts ``p`` steps later.
A run keeps ``n_periods(time) + 1`` records: record (step) 0 is the state before the first
period, dated the day before the start; record ``t`` is the state at the end of period
``t - 1``, dated that period's last day. :func:`record_step` and :func:`record_date` are
the one mapping between record steps and dates.
"""

from __future__ import annotations

import datetime as dt

from sim.scenario.schema import TimeSpec

_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    return dt.date(d.year + y, m + 1, 1)


def period_start(time: TimeSpec, p: int) -> dt.date:
    """First day of period ``p`` (period 0 starts at ``time.start``, on a month's first day)."""
    base = dt.date(time.start.year, time.start.month, 1)
    return _add_months(base, _MONTHS[time.step] * p)


def period_end(time: TimeSpec, p: int) -> dt.date:
    """Last day of period ``p``: the date a step's record carries."""
    return period_start(time, p + 1) - dt.timedelta(days=1)


def period_of(time: TimeSpec, date: dt.date) -> int:
    """The period whose calendar span contains ``date`` (may be out of the horizon)."""
    months = (date.year - time.start.year) * 12 + date.month - time.start.month
    return months // _MONTHS[time.step]


def n_periods(time: TimeSpec) -> int:
    """How many periods the scenario runs: ``time.steps``, or up to the one holding ``time.end``."""
    if time.steps is not None:
        return time.steps
    return period_of(time, time.end) + 1


def horizon(time: TimeSpec) -> tuple[dt.date, dt.date]:
    """First day of the first period and last day of the last period."""
    return period_start(time, 0), period_end(time, n_periods(time) - 1)


def record_date(time: TimeSpec, step: int) -> dt.date:
    """The date of record ``step``: the day before the start for 0, else the last day of
    period ``step - 1``.

    Args:
        time: the scenario's calendar.
        step: a record step, 0 to ``n_periods(time)``.

    Raises:
        ValueError: ``step`` is outside 0 to ``n_periods(time)``.
    """
    last = n_periods(time)
    if not 0 <= step <= last:
        raise ValueError(f"step {step} is outside the scenario's records (0 to {last})")
    if step == 0:
        return period_start(time, 0) - dt.timedelta(days=1)
    return period_end(time, step - 1)


def record_step(time: TimeSpec, date: dt.date) -> int:
    """The record that closes the period containing ``date``.

    The day before the start gives record 0; a date in period ``p`` gives record ``p + 1``
    (dated the last day of period ``p``).

    Args:
        time: the scenario's calendar.
        date: a date from ``record_date(time, 0)`` (the day before the start) to
            ``record_date(time, n_periods(time))`` (the last day of the last period).

    Raises:
        ValueError: ``date`` is outside that range; the message names it:
            ``"{date} is outside the scenario's records ({first} to {last})"``.
    """
    first, last = record_date(time, 0), record_date(time, n_periods(time))
    if not first <= date <= last:
        raise ValueError(f"{date} is outside the scenario's records ({first} to {last})")
    if date == first:
        return 0
    return period_of(time, date) + 1
