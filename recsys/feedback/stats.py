"""The click-through report: per variant, impressions, clicks and CTR with a 95 % Wilson interval,
CTR by position, CTR over time, and a two-proportion z-test of each variant against control.

CTR is clicks over impressions, where an impression counts at most one click (its first), so each
impression is one Bernoulli trial. By position, it is the clicks at that position over the
impressions that showed one there.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

from scipy.stats import norm

from ..errors import ParameterError
from .store import FeedbackStore
from .variants import CONTROL

CONFIDENCE = 0.95
DEFAULT_DAYS = 30


def wilson_interval(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The Wilson score interval of a binomial proportion; None without trials."""
    if trials <= 0:
        return None
    z = norm.ppf(0.5 + confidence / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_test(clicks: int, impressions: int, control_clicks: int,
                        control_impressions: int) -> dict[str, float] | None:
    """CTR difference against control, with the pooled two-proportion z statistic and its two-sided
    p-value; None without impressions on either side, or without any variation at all."""
    if impressions <= 0 or control_impressions <= 0:
        return None
    p1, p0 = clicks / impressions, control_clicks / control_impressions
    pooled = (clicks + control_clicks) / (impressions + control_impressions)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / impressions + 1 / control_impressions))
    if spread == 0:
        return {"difference": p1 - p0, "z": 0.0, "p_value": 1.0}
    z = (p1 - p0) / spread
    return {"difference": p1 - p0, "z": z, "p_value": float(2 * norm.sf(abs(z)))}


def _rate(clicks: int, impressions: int) -> dict[str, Any]:
    interval = wilson_interval(clicks, impressions)
    return {"impressions": int(impressions), "clicks": int(clicks),
            "ctr": clicks / impressions if impressions else None,
            "ctr_low": interval[0] if interval else None, "ctr_high": interval[1] if interval else None}


def window(start: datetime | None = None, end: datetime | None = None, *,
           now: datetime | None = None) -> tuple[datetime, datetime]:
    """The report's time range: [start, end), by default the last 30 days up to now (UTC). A range
    that ends before it starts is empty."""
    end = end or now or datetime.now(timezone.utc)
    if start is None:
        try:
            start = end - timedelta(days=DEFAULT_DAYS)
        except OverflowError:  # an end in the first month of year 1
            start = datetime.min.replace(tzinfo=timezone.utc)
    if start.tzinfo is None or end.tzinfo is None:
        raise ParameterError("from and to must be aware times (UTC)")
    return start, max(start, end)


def report(store: FeedbackStore, start: datetime | None = None, end: datetime | None = None, *,
           variants: list[str] | None = None, now: datetime | None = None) -> dict[str, Any]:
    """The report of the roll-ups over the hours that start in [start, end) (default: the last 30
    days). ``variants`` lists the configured ones first, in their order (each shows even without
    traffic); a variant found only in the roll-ups (a removed one) follows. Run
    ``store.roll_up()`` first to count the newest raw rows in."""
    start, end = window(start, end, now=now)
    from_hour = math.floor(start.timestamp() / 3600)
    to_hour = math.ceil(end.timestamp() / 3600) if end > start else from_hour  # an empty range: no hour
    hours = store.variant_hours(from_hour, to_hour)
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for _, variant, impressions, clicks in hours:
        totals[variant][0] += impressions
        totals[variant][1] += clicks
    names = list(dict.fromkeys([*(variants or []), *sorted(totals)]))
    by_position: dict[str, list[dict]] = defaultdict(list)
    for variant, position, impressions, clicks in store.positions(from_hour, to_hour):
        by_position[variant].append({"position": int(position), **_rate(clicks, impressions)})
    control = totals.get(CONTROL, [0, 0])
    rows = []
    for name in names:
        impressions, clicks = totals.get(name, [0, 0])
        test = None if name == CONTROL else two_proportion_test(clicks, impressions, control[1], control[0])
        rows.append({"variant": name, **_rate(clicks, impressions), "vs_control": test,
                     "by_position": by_position.get(name, [])})
    ranked = sorted((r for r in rows if r["impressions"]), key=lambda r: (-r["ctr"], r["variant"]))
    daily = (end - start) > timedelta(days=3)
    step = 24 if daily else 1
    series: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for hour, variant, impressions, clicks in hours:
        bucket = hour - (hour - from_hour) % step
        series[(bucket, variant)][0] += impressions
        series[(bucket, variant)][1] += clicks
    over_time = [{"start": _iso(bucket * 3600), "variant": variant, **_rate(c, i)}
                 for (bucket, variant), (i, c) in sorted(series.items())]
    return {"from": start.astimezone(timezone.utc).isoformat(), "to": end.astimezone(timezone.utc).isoformat(),
            "confidence": CONFIDENCE, "control": CONTROL, "variants": rows,
            "ranking": [r["variant"] for r in ranked], "bucket": "day" if daily else "hour", "over_time": over_time}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat()


def format_report(data: dict[str, Any]) -> str:
    """The report as plain-text tables (what ``recsys report`` prints)."""
    pct = lambda value: "-" if value is None else f"{100 * value:.2f}%"  # noqa: E731
    title = (f"clicks per impression, {data['from'][:16]} to {data['to'][:16]} UTC "
             f"({round(100 * data['confidence'])}% Wilson intervals; z-test against {data['control']})")
    lines = [title, ""]
    lines.append(f"{'rank':<5}{'variant':<20}{'impressions':>12}{'clicks':>9}{'CTR':>9}  {'interval':<19}"
                 f"{'vs control':>11}{'p':>9}")
    rank = {name: n for n, name in enumerate(data["ranking"], start=1)}
    for row in sorted(data["variants"], key=lambda r: rank.get(r["variant"], len(rank) + 1)):
        interval = "-" if row["ctr_low"] is None else f"{pct(row['ctr_low'])} - {pct(row['ctr_high'])}"
        test = row["vs_control"]
        versus = "" if test is None else f"{100 * test['difference']:+.2f}pt"
        p_value = "" if test is None else f"{test['p_value']:.3g}"
        lines.append(f"{rank.get(row['variant'], '-')!s:<5}{row['variant']:<20}{row['impressions']:>12}"
                     f"{row['clicks']:>9}{pct(row['ctr']):>9}  {interval:<19}{versus:>11}{p_value:>9}")
    positions = sorted({p["position"] for row in data["variants"] for p in row["by_position"]})
    if positions:
        lines += ["", "CTR by position", f"{'position':<10}" + "".join(f"{r['variant']:>20}" for r in data["variants"])]
        for position in positions:
            cells = []
            for row in data["variants"]:
                found = next((p for p in row["by_position"] if p["position"] == position), None)
                cells.append("-" if found is None else f"{pct(found['ctr'])} of {found['impressions']}")
            lines.append(f"{position:<10}" + "".join(f"{cell:>20}" for cell in cells))
    return "\n".join(lines)
