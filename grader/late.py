"""Deadlines and late penalties: course.toml's `[deadlines]` and `[late]` tables, and the arithmetic of lateness.

Lateness is counted from the deadline in whole started days: 1 second to 24 hours late is 1 day, 24 hours and
1 second is 2 days. The grace period only decides whether a submission is late at all: within it (its end
included) nothing is charged; past it the days are still counted from the deadline, so 15 minutes and 1 second
late with a 15-minute grace is 1 day. The penalty is `min(cap, per_day × days)` of the points the part earned
(after instructor overrides), so a late submission never loses more than it earned.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from grader.exceptions import GraderError
from grader.results import Lateness, SubmissionResult

DAY = 86_400  # seconds
DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
UNIT_SECONDS = {"d": DAY, "h": 3600, "m": 60, "s": 1}
POLICY_KEYS = ("per_day", "cap", "grace")


class DeadlineError(GraderError, ValueError):
    """A deadline, late policy or duration that cannot be used."""


@dataclass(frozen=True)
class LatePolicy:
    """What lateness costs: a share of the points earned per started day late, at most `cap`, after a grace period."""

    per_day: float = 0.0
    cap: float = 1.0
    grace_seconds: int = 0

    def days_charged(self, seconds_late: float) -> int:
        """Started days late; 0 when on time or within the grace period."""
        return 0 if seconds_late <= self.grace_seconds else math.ceil(seconds_late / DAY)

    def fraction(self, days: int) -> float:
        """The share of the points earned that `days` days late cost."""
        return round(min(self.cap, self.per_day * days), 6)


@dataclass(frozen=True)
class Deadline:
    """One part's deadline and the policy for work handed in after it."""

    part: str
    due: datetime
    policy: LatePolicy

    def lateness(self, submitted: datetime) -> Lateness:
        """The late record of a part submitted at `submitted` (an aware datetime)."""
        seconds_late = max(0, math.ceil((submitted - self.due).total_seconds()))
        days = self.policy.days_charged(seconds_late)
        return Lateness(part=self.part, deadline=self.due.isoformat(),
                        submitted_at=submitted.astimezone(self.due.tzinfo).isoformat(),  # in the deadline's zone
                        seconds_late=seconds_late, days_charged=days, penalty_fraction=self.policy.fraction(days),
                        per_day=self.policy.per_day, cap=self.policy.cap, grace_seconds=self.policy.grace_seconds)


def parse_duration(text: str, *, where: str = "duration") -> int:
    """Seconds in a duration such as `15m`, `1h30m`, `2d`, `90s` or `0`."""
    cleaned = str(text).strip().lower()
    if cleaned == "0":
        return 0
    pieces = DURATION.findall(cleaned)
    if not pieces or DURATION.sub("", cleaned).strip():
        raise DeadlineError(f"{where}: {text!r} is not a duration (write e.g. 15m, 1h30m, 2d, 90s)")
    return round(sum(float(amount) * UNIT_SECONDS[unit] for amount, unit in pieces))


def parse_time(value: Any, *, where: str) -> datetime:
    """An aware datetime from ISO 8601 text (or a TOML datetime); a time without a UTC offset is an error."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise DeadlineError(f"{where}: {value!r} is not an ISO 8601 time "
                                "(write e.g. 2026-12-01T23:59:00-05:00)") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise DeadlineError(f"{where}: {value!r} has no UTC offset, so it names a different moment in every time zone; "
                            f"add one (e.g. {moment.isoformat()}-05:00 or {moment.isoformat()}Z)")
    return moment


def parse_policy(table: Any, *, where: str, base: LatePolicy = LatePolicy()) -> LatePolicy:
    """A late policy from a `[late]` table (keys per_day, cap, grace), keys not given taken from `base`."""
    if not isinstance(table, dict):
        raise DeadlineError(f"{where} must be a table of {', '.join(POLICY_KEYS)}")
    unknown = sorted(set(table) - set(POLICY_KEYS))
    if unknown:
        raise DeadlineError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(POLICY_KEYS)})")
    fractions = {key: _fraction(table[key], where=f"{where}.{key}") for key in ("per_day", "cap") if key in table}
    grace = parse_duration(table["grace"], where=f"{where}.grace") if "grace" in table else base.grace_seconds
    return LatePolicy(per_day=fractions.get("per_day", base.per_day), cap=fractions.get("cap", base.cap),
                      grace_seconds=grace)


def parse_deadlines(deadlines: Any, late: Any, *, parts: set[str], where: str) -> dict[str, Deadline]:
    """Each part's Deadline from course.toml's `[deadlines]` and `[late]` tables (`parts`: the course's part names)."""
    if not isinstance(deadlines, dict) or not isinstance(late, dict):
        raise DeadlineError(f"{where}: [deadlines] and [late] must be tables")
    overrides = late.get("parts", {})
    if not isinstance(overrides, dict):
        raise DeadlineError(f"{where}: [late.parts] must hold one table per part ([late.parts.<part>])")
    for table, names in (("[deadlines]", deadlines), ("[late.parts]", overrides)):
        unknown = sorted(set(names) - parts)
        if unknown:
            raise DeadlineError(f"{where}: {table} names part {unknown[0]!r}, which the course does not have "
                                f"(parts: {', '.join(sorted(parts)) or 'none'})")
    without_deadline = sorted(set(overrides) - set(deadlines))
    if without_deadline:
        raise DeadlineError(f"{where}: [late.parts.{without_deadline[0]}] gives a late policy to a part with no "
                            "deadline in [deadlines]")
    policy = parse_policy({k: v for k, v in late.items() if k != "parts"}, where=f"{where} [late]")
    return {part: Deadline(part, parse_time(due, where=f"{where} [deadlines] {part}"),
                           parse_policy(overrides[part], where=f"{where} [late.parts.{part}]", base=policy)
                           if part in overrides else policy)
            for part, due in deadlines.items()}


def assess(result: SubmissionResult, submitted: datetime, deadlines: dict[str, Deadline]) -> None:
    """Record when `result` was submitted and, for each of its graded parts with a deadline, how late it was."""
    result.submitted_at = submitted.isoformat()
    if result.error is None:
        result.late = [deadlines[part].lateness(submitted) for part in result.parts if part in deadlines]


def describe(late: Lateness) -> str:
    """How late and what the policy charges, in words for a student: `2 days late: 20% of the points deducted`."""
    if late.seconds_late == 0:
        return "on time"
    if late.days_charged == 0:
        return f"{_span(late.seconds_late)} after the deadline, within the {_span(late.grace_seconds)} grace period: on time"
    days = f"{late.days_charged} day{'s' * (late.days_charged != 1)}"
    return (f"{_span(late.seconds_late)} late, charged as {days} (each day started counts): "
            f"{_percent(late.penalty_fraction)} of the points deducted")


def policy_text(late: Lateness) -> str:
    """The late policy in words: `10% per day started, at most 50%, after a 15 min grace period`."""
    grace = f", after a {_span(late.grace_seconds)} grace period" if late.grace_seconds else ""
    return f"{_percent(late.per_day)} of the points earned per day started, at most {_percent(late.cap)}{grace}"


def _span(seconds: int) -> str:
    """A duration in words, largest units first, at most two: `2 d 3 h`, `15 min`, `1 s`."""
    pieces, left = [], int(seconds)
    for name, size in (("d", DAY), ("h", 3600), ("min", 60), ("s", 1)):
        if left >= size:
            pieces.append(f"{left // size} {name}")
            left %= size
    return " ".join(pieces[:2]) or "0 s"


def _percent(fraction: float) -> str:
    """A fraction as a percentage without needless decimals: 0.1 → `10%`, 0.125 → `12.5%`."""
    return f"{100 * fraction:.2f}".rstrip("0").rstrip(".") + "%"


def _fraction(value: Any, *, where: str) -> float:
    """A number between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DeadlineError(f"{where}: {value!r} is not a number (a fraction of the points, e.g. 0.1)")
    if not 0 <= value <= 1:
        raise DeadlineError(f"{where}: {value!r} is outside 0..1 (a fraction of the points: 0.1 is 10%)")
    return float(value)
