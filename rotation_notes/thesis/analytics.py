"""Whether the thesis is working: the pair since it was opened, its levels, catalyst reactions.

Pure pandas on the cleaned closes, like ``metrics`` (no file, no network; the NYSE calendar
comes from ``clock``). Every figure is documented in docs/frontmatter.md ("Scorecard",
"Levels", "Catalyst reactions") so a reader can recompute it from the closes:

- the **open session** is the last session on or before ``opened`` that both legs have a
  close for; its closes ``L0``, ``S0`` are the entry, and ``Lt``, ``St`` are the closes at
  a later session ``t`` both legs have;
- ``spread_t = (Lt/L0 - 1)*100 - (St/S0 - 1)*100``, in percentage points: a long-$1 /
  short-$1 position set once at the open session;
- ``ratio_t = ((Lt/St) / (L0/S0) - 1)*100``, in percent: the relative-strength line
  (``100 + ratio_t`` is the ratio rebased to 100, as the ratio chart draws it);
- the ratio's **drawdown** at ``t`` is ``(R_t / max(R_u, u <= t) - 1)*100`` with
  ``R = L/S``: the maximum drawdown is its lowest value since the open session, the current
  drawdown its value at the as-of session;
- a **level** is crossed at the first session (from the open session on) whose value is
  strictly below (``below``) or above (``above``) it; it stays "hit" once crossed.

A figure that needs every session of the path (best and worst spread, drawdowns, first
crossings) is n/a, with the reason, when the closes since the open session have a hole
(``MAX_GAP_DAYS``) or a close dropped as bad: a day missing could hide the low.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import pandas as pd

from rotation_notes.defaults import LEVEL_NEAR_POINTS, LEVEL_NEAR_PRICE_PCT
from rotation_notes.thesis import metrics as m
from rotation_notes.thesis.spec import PAIR_MEASURES, Level

#: Sessions after a catalyst's window its reaction is measured over.
REACTION_SESSIONS = (1, 5, 20)


@dataclass(frozen=True)
class PairPath:
    """Both legs' closes at the sessions they share, from the open session to ``as_of``."""

    opened: dt.date
    open_session: dt.date
    as_of: dt.date
    long: pd.Series
    short: pd.Series
    #: "" or why figures that need every session of the path are n/a
    problem: str

    @property
    def sessions(self) -> int:
        """Sessions since the open session (0 on the open session itself)."""
        return len(self.long) - 1

    @cached_property  # each path is read by the scorecard, every level and the chart
    def spread(self) -> pd.Series:
        l0, s0 = float(self.long.iloc[0]), float(self.short.iloc[0])
        return (self.long / l0 - 1.0) * 100.0 - (self.short / s0 - 1.0) * 100.0

    @cached_property
    def ratio(self) -> pd.Series:
        """Percent since the open session of the ratio long/short."""
        r = self.long / self.short
        return (r / float(r.iloc[0]) - 1.0) * 100.0

    @cached_property
    def drawdown(self) -> pd.Series:
        """The ratio's distance below its running peak, in percent (0 at a peak)."""
        r = self.long / self.short
        return (r / r.cummax() - 1.0) * 100.0


def _holes(series: pd.Series, after: dt.date, upto: dt.date) -> str:
    """Why ``series`` misses a session in ``[after, upto]`` (a gap or a dropped close), or ""."""
    dates = [d.date() for d in series.loc[pd.Timestamp(after) : pd.Timestamp(upto)].index]
    if (gap := m.first_gap(dates)) is not None:
        return f"no close between {gap[0]} and {gap[1]} (data gap)"
    bad = [d for d in m.dropped_dates(series) if after < d <= upto]
    if bad:
        return f"the close of {bad[0]} was dropped as bad data"
    return ""


def pair_path(
    long: pd.Series | None,
    short: pd.Series | None,
    opened: dt.date,
    as_of: dt.date,
    names: tuple[str, str] = ("long", "short"),
) -> PairPath | str:
    """The pair since the open session, or why there is none."""
    if long is None or short is None:
        return f"no data for {names[0] if long is None else names[1]}"
    if opened > as_of:
        return f"opened {opened}, after the session used ({as_of})"
    both = pd.concat([m.upto(long, as_of), m.upto(short, as_of)], axis=1, join="inner")
    before = both.loc[: pd.Timestamp(opened)]
    if before.empty:
        return f"no close of both {names[0]} and {names[1]} on or before {opened}"
    start = before.index[-1].date()
    if (opened - start).days > m.MAX_GAP_DAYS:
        return (
            f"the last close of both legs on or before {opened} is {start}, "
            f"{(opened - start).days} days earlier (data gap)"
        )
    for series in (long, short):
        bad = [d for d in m.dropped_dates(series) if start < d <= opened]
        if bad:
            return f"the close of {bad[-1]} (the entry) was dropped as bad data"
    path = both.loc[pd.Timestamp(start) :]
    problem = next(
        (
            f"{name}: {why}"
            for name, series in zip(names, (long, short), strict=True)
            if (why := _holes(series, start, as_of))
        ),
        "",
    )
    return PairPath(
        opened,
        start,
        as_of,
        path.iloc[:, 0].astype(float),
        path.iloc[:, 1].astype(float),
        problem,
    )


@dataclass(frozen=True)
class Scorecard:
    """The pair's figures since the open session (percent, or percentage points)."""

    path: PairPath
    long_pct: float
    short_pct: float
    spread_pp: float
    ratio_pct: float
    #: best and worst spread so far, with their sessions (None when the path has a hole)
    best: tuple[float, dt.date] | None
    worst: tuple[float, dt.date] | None
    #: the ratio's running peak and its session; drawdowns below it (None: the path has a hole)
    peak_session: dt.date | None
    max_drawdown_pct: float | None
    max_drawdown_session: dt.date | None
    current_drawdown_pct: float | None
    #: the benchmark's return since the open session, and each leg's excess over it (pp)
    benchmark: str | None
    benchmark_pct: m.Figure
    long_excess_pp: float | None
    short_excess_pp: float | None


def scorecard(
    path: PairPath, benchmark: str | None, bench: pd.Series | None, missing: str = "no data"
) -> Scorecard:
    spread, ratio, drawdown = path.spread, path.ratio, path.drawdown
    whole = not path.problem

    def at(series: pd.Series, pick: str) -> tuple[float, dt.date]:
        stamp = series.idxmax() if pick == "max" else series.idxmin()
        return float(series.loc[stamp]), stamp.date()

    long_pct = (float(path.long.iloc[-1]) / float(path.long.iloc[0]) - 1.0) * 100.0
    short_pct = (float(path.short.iloc[-1]) / float(path.short.iloc[0]) - 1.0) * 100.0
    if benchmark is None:
        bench_fig = m.Figure(None, "no benchmark declared")
    elif bench is None:
        bench_fig = m.Figure(None, missing)
    else:
        bench_fig = _benchmark_move(bench, benchmark, path)
    ratio_r = path.long / path.short
    return Scorecard(
        path=path,
        long_pct=long_pct,
        short_pct=short_pct,
        spread_pp=float(spread.iloc[-1]),
        ratio_pct=float(ratio.iloc[-1]),
        best=at(spread, "max") if whole else None,
        worst=at(spread, "min") if whole else None,
        peak_session=ratio_r.idxmax().date() if whole else None,
        max_drawdown_pct=float(drawdown.min()) if whole else None,
        max_drawdown_session=drawdown.idxmin().date() if whole else None,
        current_drawdown_pct=float(drawdown.iloc[-1]) if whole else None,
        benchmark=benchmark,
        benchmark_pct=bench_fig,
        long_excess_pp=None if bench_fig.pct is None else long_pct - bench_fig.pct,
        short_excess_pp=None if bench_fig.pct is None else short_pct - bench_fig.pct,
    )


def _benchmark_move(bench: pd.Series, benchmark: str, path: PairPath) -> m.Figure:
    """The benchmark's return over exactly the pair's sessions: its closes at the open session
    and at the as-of session (one that ends early is n/a, not compared over other days)."""
    for day, what in ((path.open_session, "the open session"), (path.as_of, "the as-of session")):
        got = m.close_on_or_before(bench, day)
        if got is None or got[0] != day:
            last = f"; its last close before is {got[0]}" if got else ""
            return m.Figure(None, f"no close of {benchmark} on {day}, {what}{last}")
    if path.sessions == 0:
        return m.Figure(0.0)
    return m.change(bench, path.open_session, path.as_of, "return since opened")


# --- levels ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LevelState:
    """A level as of the note's session."""

    level: Level
    #: "hit" (crossed at some session since the open session), "near", "not hit"; None: n/a
    status: str | None
    value: float | None  # the measure at its last session
    value_session: dt.date | None
    first_crossed: dt.date | None
    first_value: float | None  # the measure at the first crossing
    beyond_now: bool  # the value now is past the level
    near_within: float  # the distance that counts as near, in the measure's units
    #: why the status is n/a, or a caveat (a hole in the data may hide an earlier crossing)
    reason: str = ""
    #: the value was already past the level at the open session (its first session)
    past_at_open: bool = False


def near_within(level: Level) -> float:
    """How close to a level counts as near: ``near:`` if given, else the documented default
    (``LEVEL_NEAR_POINTS`` for a spread or ratio level, ``LEVEL_NEAR_PRICE_PCT`` percent of
    the level for a close)."""
    if level.near is not None:
        return level.near
    if level.on in PAIR_MEASURES:
        return LEVEL_NEAR_POINTS
    return abs(level.value) * LEVEL_NEAR_PRICE_PCT / 100.0


def crossed(level: Level, values: pd.Series) -> pd.Series:
    """Whether each value is past the level (strictly)."""
    return values < level.value if level.direction == "below" else values > level.value


def level_series(
    level: Level, path: PairPath, closes: dict[str, pd.Series], missing: str
) -> tuple[pd.Series, str] | str:
    """The level's measure at each session since the open session, with a caveat (or ""),
    or why there is none."""
    if level.on == "spread":
        return path.spread, path.problem
    if level.on == "ratio":
        return path.ratio, path.problem
    series = closes.get(level.on)
    if series is None:
        return f"{level.on}: {missing}"
    s = series.loc[pd.Timestamp(path.open_session) : pd.Timestamp(path.as_of)]
    if s.empty:
        return f"{level.on}: no close between {path.open_session} and {path.as_of}"
    first, last = s.index[0].date(), s.index[-1].date()
    caveat = _holes(series, path.open_session, path.as_of)
    if not caveat and (first - path.open_session).days > m.MAX_GAP_DAYS:
        caveat = f"data starts {first}, after the open session {path.open_session}"
    if not caveat and (path.as_of - last).days > m.MAX_GAP_DAYS:
        caveat = f"data ends {last}"
    return s.astype(float), caveat and f"{level.on}: {caveat}"


def evaluate(level: Level, measured: tuple[pd.Series, str] | str) -> LevelState:
    within = near_within(level)
    if isinstance(measured, str):
        return LevelState(level, None, None, None, None, None, False, within, measured)
    values, caveat = measured
    past = crossed(level, values)
    value, session = float(values.iloc[-1]), values.index[-1].date()
    first = past.idxmax() if bool(past.any()) else None
    if first is not None:
        status = "hit"
    elif abs(value - level.value) <= within:
        status = "near"
    else:
        status = "not hit"
    reason = ""
    if caveat:
        reason = f"{caveat}: a crossing in the missing sessions would not be seen"
    return LevelState(
        level,
        status,
        value,
        session,
        None if first is None else first.date(),
        None if first is None else float(values.loc[first]),
        bool(past.iloc[-1]),
        within,
        reason,
        bool(past.iloc[0]),
    )


# --- catalyst sessions ----------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """The sessions a catalyst's window covers, after anchoring its dates to the NYSE calendar."""

    start: dt.date
    end: dt.date
    #: "" or what anchoring changed, for the note ("dated 2026-02-07, not a session")
    note: str


def anchor_window(start: dt.date, end: dt.date, time: str) -> Anchor:
    """A date that is not a session moves to the next session, and so does one whose event is
    ``after-close`` (the market reacts the next session). Outside the calendar's years (before
    1885 or so) the dates are kept as they are."""
    from rotation_notes import clock

    try:
        if time == "after-close":
            first, last = clock.next_session(start), clock.next_session(end)
        else:
            first, last = clock.session_on_or_after(start), clock.session_on_or_after(end)
    except Exception:  # exchange_calendars knows no sessions that far back or ahead
        return Anchor(start, end, "")
    last = max(first, last)
    if (first, last) == (start, end):
        return Anchor(start, end, "")
    if time == "after-close":
        why = "after the close"
    else:
        why = " and ".join(
            f"{d} is a {d:%A}" if d.weekday() >= 5 else f"{d} is an NYSE holiday"
            for d in dict.fromkeys((start, end))
            if d not in (first, last)
        )
    span = f"{first}" if first == last else f"{first} → {last}"
    return Anchor(first, last, f"{why}: measured over the session{'s' * (first != last)} {span}")


def sessions_until(as_of: dt.date, day: dt.date) -> int | None:
    """NYSE sessions after ``as_of`` up to and including ``day`` (None outside the calendar)."""
    from rotation_notes import clock

    try:
        return clock.count_sessions(as_of, day)
    except Exception:
        return None


def reaction_targets(end: dt.date) -> dict[int, dt.date] | str:
    """The session ``n`` sessions after the window's last session, for each reaction."""
    from rotation_notes import clock

    try:
        after = clock.sessions_after(end, max(REACTION_SESSIONS))
    except Exception:
        return f"no NYSE calendar for {end.year}"
    return {n: after[n - 1] for n in REACTION_SESSIONS}


def reaction(
    series: pd.Series | None, end: dt.date, target: dt.date, as_of: dt.date, n: int, missing: str
) -> m.Figure:
    """Move from the close of the window's last session to the close ``n`` sessions later."""
    if series is None:
        return m.Figure(None, missing)
    if target > as_of:
        nth = f"{n} session{'s' * (n != 1)} after the window"
        return m.Figure(None, f"{nth} is {target}, after the last session used ({as_of})")
    last = m.close_on_or_before(series, target)
    if last is not None and last[0] != target:
        # an older close would stand in for it: a move over fewer sessions than it says
        later = series.loc[pd.Timestamp(target) :]
        why = (
            f"data ends {last[0]}"
            if later.empty
            else f"no close on {target} (the last before it is {last[0]})"
        )
        return m.Figure(None, f"{why}, before the {n}-session reaction's session {target}")
    return m.change(series, end, target, f"{n}-session reaction")
