"""The one results model: submission → checks, with totals as properties, and its JSON form."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
LATE_DERIVED = ("raw_score", "penalty_points", "final_score")  # written with each late record, recomputed on reading


class Status(str, Enum):
    """How one check ended."""

    PASSED = "passed"
    PARTIAL = "partial"
    FAILED = "failed"
    NOT_RUN = "not_run"  # the work it depends on never ran (cell error, timeout, dead kernel)


class Visibility(str, Enum):
    """Whether students see a check's inputs and details."""

    VISIBLE = "visible"
    HIDDEN = "hidden"


@dataclass
class Figure:
    """Data for a picture a report draws (never pixels or HTML): `kind` says how to draw `data`.

    kind "images":    data = {"images": {label: 28×28 nested list of floats}} (e.g. student, reference, difference)
    kind "curves":    data = {"x_label": str, "y_label": str, "series": {label: [float, ...]}}
    kind "confusion": data = {"labels": [str, ...], "matrix": [[int, ...], ...]} (rows: true, columns: predicted)
    """

    kind: str
    title: str
    data: dict[str, Any]


@dataclass
class Answer:
    """A questionnaire answer beside the reference, with the rubric concepts found and missed."""

    prompt: str
    text: str
    reference: str
    concepts_found: list[str] = field(default_factory=list)
    concepts_missing: list[str] = field(default_factory=list)


@dataclass
class Override:
    """An instructor's replacement for an automatic score."""

    points: float
    comment: str
    automatic_score: float


@dataclass
class Lateness:
    """How late one part of a submission came in, under the course's late policy (docs/results.md)."""

    part: str
    deadline: str  # ISO 8601 with offset
    submitted_at: str
    seconds_late: int  # 0 when on time
    days_charged: int  # started days after the deadline; 0 within the grace period
    penalty_fraction: float  # share of the part's points earned that is deducted
    per_day: float
    cap: float
    grace_seconds: int


@dataclass
class CheckResult:
    """One check of one submission."""

    name: str
    part: str
    score: float
    max_score: float
    status: Status
    message: str
    visibility: Visibility = Visibility.VISIBLE
    diagnostics: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    answer: Answer | None = None
    needs_review: bool = False
    override: Override | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Full marks."""
        return self.max_score > 0 and self.score >= self.max_score

    @property
    def pending_points(self) -> float:
        """Points withheld until an instructor reads the answer (a language the rubric lacks), 0 once overridden."""
        if self.override is not None:
            return 0.0
        return round(self.max_score * float(self.diagnostics.get("pending_review", 0) or 0), 4)

    def overridden(self, points: float, comment: str) -> "CheckResult":
        """This check with an instructor's points in place of the automatic score."""
        automatic = self.override.automatic_score if self.override else self.score
        status = Status.PASSED if points >= self.max_score else Status.PARTIAL if points > 0 else Status.FAILED
        return replace(self, score=points, status=status, override=Override(points, comment, automatic))


@dataclass
class ExecutionProblem:
    """Something that went wrong while the notebook ran, with the student's cell."""

    kind: str  # "error" | "timeout" | "kernel_died" | "notebook_timeout"
    cell_index: int | None
    cell_source: str
    ename: str
    evalue: str
    traceback: str = ""
    caused_by: int | None = None  # cell index of the earlier failed cell this one follows from (see grader.causes)

    @property
    def cell_number(self) -> int | None:
        """The cell as messages count it (from 1)."""
        return None if self.cell_index is None else self.cell_index + 1

    @property
    def where(self) -> str:
        """`cell 3` (counted from 1), or `the notebook` for a problem not tied to a cell."""
        return f"cell {self.cell_number}" if self.cell_number is not None else "the notebook"

    @property
    def headline(self) -> str:
        """`cell 3: NameError: name 'x' is not defined`."""
        return f"{self.where}: {self.ename}: {self.evalue}".rstrip(": ")


@dataclass(frozen=True)
class ProblemGroup:
    """Problems reported once: the cells that failed one way (causes), and later cells that failed because of them."""

    causes: list[ExecutionProblem]
    followers: list[ExecutionProblem]

    @property
    def problem(self) -> ExecutionProblem:
        """The first cell that failed this way."""
        return self.causes[0]

    @property
    def cell_numbers(self) -> list[int]:
        """The causes' cells, counted from 1."""
        return [p.cell_number for p in self.causes if p.cell_number is not None]

    @property
    def where(self) -> str:
        """`cell 3`, `cells 1, 2` (every cell that failed this way), or `the notebook`."""
        numbers = self.cell_numbers
        return f"cells {', '.join(map(str, numbers))}" if len(numbers) > 1 else self.problem.where

    @property
    def headline(self) -> str:
        """`cells 1, 2: ModuleNotFoundError: No module named 'x'`: the error once, with every cell that raised it."""
        return f"{self.where}: {self.problem.ename}: {self.problem.evalue}".rstrip(": ")

    @property
    def consequence(self) -> str:
        """`3 later cells failed because of it` ('' when none did)."""
        count = len(self.followers)
        if not count:
            return ""
        return f"{count} later cell{'s' * (count != 1)} failed because of {'it' if len(self.causes) == 1 else 'them'}"

    @property
    def summary(self) -> str:
        """The headline and, when cells followed from it, how many."""
        return f"{self.headline} — {self.consequence}" if self.followers else self.headline


@dataclass
class SubmissionResult:
    """Everything known about one graded (or ungradable) submission."""

    path: str
    student: str
    assignment: str
    checks: list[CheckResult] = field(default_factory=list)
    problems: list[ExecutionProblem] = field(default_factory=list)
    error: str | None = None
    declared_max_score: float = 0.0
    execute_seconds: float = 0.0
    seconds: float = 0.0
    graded_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    sandboxed: bool = True  # False: graded with --no-sandbox, the notebook ran unconfined
    stages: dict[str, float] = field(default_factory=dict)  # seconds per grading stage (docs/results.md)
    submitted_at: str | None = None  # ISO 8601; None when the course has no deadlines and no source was given
    late: list[Lateness] = field(default_factory=list)  # one per part with a deadline (none when ungradable)
    reused: bool = False  # True: not run again, the gradebook's result of the same notebook (docs/gradebook.md)

    @classmethod
    def without_results(cls, error: str, *, path: str, student: str, assignment: str = "",
                        declared_max_score: float = 0.0) -> "SubmissionResult":
        """A submission that could not be graded at all."""
        return cls(path=path, student=student, assignment=assignment, error=error,
                   declared_max_score=declared_max_score)

    @property
    def raw_score(self) -> float:
        """Points the checks earned (overrides included), before any late penalty."""
        return round(sum(check.score for check in self.checks), 4)

    @property
    def score(self) -> float:
        """The grade: points earned less the late penalty."""
        return round(self.raw_score - self.penalty_points, 4)

    def late_fraction(self, part: str) -> float:
        """The share of `part`'s points earned that lateness costs (0 when on time or without a deadline)."""
        return next((late.penalty_fraction for late in self.late if late.part == part), 0.0)

    def part_penalty(self, part: str) -> float:
        """Points `part` loses for lateness."""
        raw = sum(check.score for check in self.checks if check.part == part)
        return round(raw * self.late_fraction(part), 4)

    @property
    def penalty_points(self) -> float:
        """Points lost for lateness, over every part."""
        return round(sum(self.part_penalty(late.part) for late in self.late), 4)

    @property
    def max_score(self) -> float:
        """Points available (the assignment's declared total when no check ran)."""
        return round(sum(check.max_score for check in self.checks), 4) if self.checks else self.declared_max_score

    @property
    def points_pending_review(self) -> float:
        """Points withheld until an instructor reads answers the grader could not score (not in `score`)."""
        return round(sum(check.pending_points for check in self.checks), 4)

    @property
    def answers_to_review(self) -> int:
        """Checks flagged for an instructor's reading and not yet overridden."""
        return sum(check.needs_review and check.override is None for check in self.checks)

    @property
    def fraction(self) -> float:
        """Score as a fraction of the maximum (0 when nothing is available)."""
        return self.score / self.max_score if self.max_score else 0.0

    @property
    def status(self) -> str:
        """'graded' when checks ran (whatever the score), 'error' when the submission could not be graded."""
        return "error" if self.error is not None else "graded"

    @property
    def problem_groups(self) -> list[ProblemGroup]:
        """Each cause of execution problems once, with the later cells that failed because of it (`caused_by`).

        Cells that failed the same way (kind, error and message) share one group. Groups that later
        cells followed from come first, then the independent errors, each in cell order.
        """
        groups: dict[tuple[str, str, str], ProblemGroup] = {}
        by_cell: dict[int, ProblemGroup] = {}
        for problem in sorted(self.problems, key=_cell_order):
            if problem.caused_by is not None and problem.caused_by in by_cell:
                by_cell[problem.caused_by].followers.append(problem)
                continue
            group = groups.setdefault((problem.kind, problem.ename, problem.evalue), ProblemGroup([], []))
            group.causes.append(problem)
            if problem.cell_index is not None:
                by_cell[problem.cell_index] = group
        ordered = list(groups.values())
        return [g for g in ordered if g.followers] + [g for g in ordered if not g.followers]

    @property
    def parts(self) -> dict[str, tuple[float, float]]:
        """(score, max_score) per part, in the order checks are declared."""
        totals: dict[str, tuple[float, float]] = {}
        for check in self.checks:
            score, maximum = totals.get(check.part, (0.0, 0.0))
            totals[check.part] = (round(score + check.score, 4), round(maximum + check.max_score, 4))
        return totals

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form, derived totals included."""
        data = asdict(self)
        data.update(score=self.score, max_score=self.max_score, status=self.status)
        if self.points_pending_review:  # optional: only when an answer's score is withheld
            data["points_pending_review"] = self.points_pending_review
        if not self.reused:  # optional: only when the result came from the gradebook
            del data["reused"]
        if self.submitted_at is None:  # optional: only when the submission time was looked up
            del data["submitted_at"]
        if self.late:  # optional: only for parts with a deadline; the penalty's arithmetic spelled out
            data["raw_score"] = self.raw_score
            for record in data["late"]:
                raw = round(sum(check.score for check in self.checks if check.part == record["part"]), 4)
                penalty = self.part_penalty(record["part"])
                record.update(raw_score=raw, penalty_points=penalty, final_score=round(raw - penalty, 4))
        else:
            del data["late"]
        return _plain(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SubmissionResult":
        """Rebuild from `to_dict` output (derived totals are recomputed, not read)."""
        checks = [_check_from_dict(c) for c in data.get("checks", [])]
        problems = [ExecutionProblem(**p) for p in data.get("problems", [])]
        keep = {k: data[k] for k in ("path", "student", "assignment", "error", "declared_max_score",
                                     "execute_seconds", "seconds", "graded_at", "sandboxed", "stages",
                                     "submitted_at", "reused") if k in data}
        late = [Lateness(**{k: v for k, v in record.items() if k not in LATE_DERIVED}) for record in data.get("late", [])]
        return cls(checks=checks, problems=problems, late=late, **keep)


@dataclass
class BatchResult:
    """One `grader check` run over many submissions."""

    submissions: list[SubmissionResult] = field(default_factory=list)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    sandboxed: bool = True
    not_graded: list[str] = field(default_factory=list)  # paths left when grading was interrupted (Ctrl-C)

    @property
    def graded(self) -> list[SubmissionResult]:
        """Submissions whose checks ran."""
        return [s for s in self.submissions if s.status == "graded"]

    @property
    def failed_to_grade(self) -> list[SubmissionResult]:
        """Submissions that could not be graded at all."""
        return [s for s in self.submissions if s.status == "error"]

    def to_dict(self) -> dict[str, Any]:
        """The `results.json` document."""
        from grader import __version__

        document = {"schema_version": SCHEMA_VERSION, "grader_version": __version__, "created": self.created,
                    "sandboxed": self.sandboxed, "submissions": [s.to_dict() for s in self.submissions]}
        if self.not_graded:  # optional: only when grading was interrupted
            document["not_graded"] = list(self.not_graded)
        return document

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BatchResult":
        """Rebuild from a `results.json` document."""
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"results schema_version {data.get('schema_version')!r} is not {SCHEMA_VERSION}")
        return cls([SubmissionResult.from_dict(s) for s in data["submissions"]], data.get("created", ""),
                   bool(data.get("sandboxed", False)), list(data.get("not_graded", [])))

    def write_json(self, path: Path) -> None:
        """Write `results.json`."""
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read_json(cls, path: Path) -> "BatchResult":
        """Read a `results.json` written by `write_json`."""
        return cls.from_dict(json.loads(Path(path).read_text()))


def _cell_order(problem: ExecutionProblem) -> tuple[bool, int]:
    """Problems in cell order, those not tied to a cell last."""
    return problem.cell_index is None, problem.cell_index or 0


def _plain(value: Any) -> Any:
    """Enums to their values, recursively, so json.dumps accepts the structure."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _check_from_dict(data: dict[str, Any]) -> CheckResult:
    """One CheckResult from its dict form."""
    data = dict(data)
    data["status"] = Status(data["status"])
    data["visibility"] = Visibility(data.get("visibility", "visible"))
    data["figures"] = [Figure(**f) for f in data.get("figures", [])]
    data["answer"] = Answer(**data["answer"]) if data.get("answer") else None
    data["override"] = Override(**data["override"]) if data.get("override") else None
    return CheckResult(**data)
