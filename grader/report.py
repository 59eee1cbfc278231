"""Render results as HTML pages: build each template's context from the results model, then render.

Templates live in `grader/templates/` (autoescaped: everything from notebooks is shown as text).
Diagnostics are shown with the keys in DIAGNOSTIC_ORDER first, then any others, humanised. Keys
ending in `_fraction` are shown as percentages; text with several lines (a traceback) as a block.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from grader.figures import DrawnFigure, draw, draw_histogram, warm_up as warm_up_figures
from grader.late import describe, policy_text
from grader.results import BatchResult, CheckResult, Status, SubmissionResult, Visibility

DIAGNOSTIC_ORDER = ["value", "expected", "got", "abs_error", "shape", "expected_shape", "dtype", "expected_dtype",
                    "max_abs_error", "max_rel_error", "mismatched_fraction", "tolerance", "accuracy",
                    "reference_mean", "reference_std", "threshold", "traceback"]
DIAGNOSTIC_LABELS = {"value": "your value", "got": "your value", "abs_error": "abs error",
                     "max_abs_error": "max abs error", "max_rel_error": "max relative error",
                     "mismatched_fraction": "values that differ", "expected_shape": "expected shape",
                     "expected_dtype": "expected dtype", "reference_mean": "reference mean",
                     "reference_std": "reference std"}
MAX_SHOWN_ITEMS = 12  # longer lists in diagnostics are cut with an ellipsis
MAX_SHOWN_CHARS = 400
MAX_BLOCK_CHARS = 20_000
REPORTS_FOLDER = "reports"
ANSI_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[@-Z\\-_])")
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
INLINE_MARKUP = re.compile(r"(`[^`]+`|\*\*[^*]+\*\*|\*[^*\s][^*]*\*)")
CODE_MARKUP = re.compile(r"(`[^`]+`)")
INLINE_KINDS = {"code": ("`", "`"), "strong": ("**", "**"), "em": ("*", "*")}


@dataclass(frozen=True)
class Diagnostic:
    """One diagnostic line: a label and its value as text; `block` for multi-line text such as a traceback."""

    label: str
    text: str
    block: bool = False
    parts: tuple["Diagnostic", ...] = ()  # a nested group (e.g. one per value a check compared)


@dataclass(frozen=True)
class CheckView:
    """One check as a report shows it: hidden checks carry no diagnostics, answer or figures."""

    check: CheckResult
    diagnostics: list[Diagnostic]
    figures: list[DrawnFigure]

    @property
    def hidden(self) -> bool:
        """Details withheld from the student."""
        return self.check.visibility == Visibility.HIDDEN

    @property
    def anchor(self) -> str:
        """Fragment id of this check's row."""
        return check_anchor(self.check)


@dataclass(frozen=True)
class PartView:
    """The checks of one part with its subtotal."""

    name: str
    score: float
    max_score: float
    checks: list[CheckView]

    @property
    def passed(self) -> int:
        """Checks with full marks."""
        return sum(view.check.passed for view in self.checks)

    @property
    def answers(self) -> list[CheckView]:
        """Visible checks that carry a questionnaire answer."""
        return [view for view in self.checks if view.check.answer is not None and not view.hidden]

    @property
    def pictures(self) -> list[CheckView]:
        """Visible checks that carry figures."""
        return [view for view in self.checks if view.figures]


@dataclass(frozen=True)
class LateView:
    """One part's deadline, lateness and penalty as a report shows it."""

    part: str
    deadline: str
    submitted_at: str
    description: str  # how late, in words
    policy: str
    raw: float  # points the part's checks earned
    penalty: float  # points deducted

    @property
    def final(self) -> float:
        """Points the part counts for."""
        return round(self.raw - self.penalty, 4)


@dataclass
class Cell:
    """One student's points in one part of the class table, with the report that holds them."""

    score: float = 0.0  # final: less any late penalty
    max_score: float = 0.0
    href: str = ""
    error: bool = False
    pending: float = 0.0  # points withheld for an instructor's reading (not in `score`)
    penalty: float = 0.0  # points deducted for lateness
    days_late: int = 0  # days charged


@dataclass
class StudentRow:
    """One row of the class table: a student's points per part and in total."""

    student: str
    cells: dict[str, Cell] = field(default_factory=dict)

    @property
    def score(self) -> float:
        """Points over all parts."""
        return round(sum(cell.score for cell in self.cells.values()), 4)

    @property
    def max_score(self) -> float:
        """Points available over the parts submitted."""
        return round(sum(cell.max_score for cell in self.cells.values()), 4)

    @property
    def percent(self) -> float:
        """Score as a percentage of the points available."""
        return 100 * self.score / self.max_score if self.max_score else 0.0


@dataclass
class CheckRate:
    """How one check (or question) went across the class."""

    part: str
    name: str
    max_score: float
    visibility: str
    prompt: str = ""
    counts: dict[str, int] = field(default_factory=lambda: {status.value: 0 for status in Status})
    total_score: float = 0.0
    needs_review: int = 0

    @property
    def runs(self) -> int:
        """Submissions in which this check appears."""
        return sum(self.counts.values())

    @property
    def pass_rate(self) -> float:
        """Percentage of those submissions with full marks."""
        return 100 * self.counts[Status.PASSED.value] / self.runs if self.runs else 0.0

    @property
    def mean_score(self) -> float:
        """Average points."""
        return self.total_score / self.runs if self.runs else 0.0


@dataclass(frozen=True)
class ReviewItem:
    """One answer awaiting an instructor's reading, as the class summary lists it."""

    student: str
    href: str  # the answer in the student's report
    score: float
    max_score: float
    pending: float  # points withheld (not in `score`)
    reasons: list[str]
    text: str
    pairs: list[dict[str, Any]]  # near-copies: {"student", "similarity", "text"}


@dataclass
class ReviewGroup:
    """The answers to one question that await review."""

    part: str
    name: str
    prompt: str
    items: list[ReviewItem] = field(default_factory=list)


@dataclass
class PlotGroup:
    """The students' own plots for one plotting question, each a link to the report that shows it."""

    part: str
    name: str
    prompt: str
    links: list[tuple[str, str]] = field(default_factory=list)  # (student, href)


def warm_up() -> None:
    """Compile the page templates and load the drawing modules, so that the first report renders quickly."""
    for template in ("report.html.j2", "summary.html.j2"):
        environment().get_template(template)
    warm_up_figures()


@lru_cache(maxsize=1)
def environment() -> Environment:
    """The Jinja2 environment: package templates, autoescape on, undefined names are errors."""
    env = Environment(loader=PackageLoader("grader", "templates"), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(plain=plain_text, points=format_points, percent=format_percent, slug=slug,
                       spans=inline_spans)
    return env


def render_page(template: str, **context: Any) -> str:
    """Render one page template with `context`."""
    return environment().get_template(template).render(**context)


def render_submission(submission: SubmissionResult, *, summary_href: str | None) -> str:
    """The report page of one submission (`summary_href`: link back to the class summary, if any)."""
    return render_page("report.html.j2", submission=submission, parts=part_views(submission),
                       problem_groups=submission.problem_groups, summary_href=summary_href,
                       late=late_views(submission))


def render_summary(batch: BatchResult, *, report_hrefs: list[str], home_href: str | None = None,
                   course: Any = None) -> str:
    """The class summary page; `report_hrefs[i]` links the report of `batch.submissions[i]`; `course`, a
    gradebook's grid (grader.gradebook.views.Grid), adds the whole course's latest scores."""
    rows, parts = student_rows(batch, report_hrefs)
    rates = check_rates(batch)
    checks = [rate for rate in rates if not rate.prompt]
    questions = [rate for rate in rates if rate.prompt]
    distribution = draw_histogram([row.percent for row in rows], title="Students by percentage of points",
                                  x_label="percentage of points available")
    failures = [(submission, href) for submission, href in zip(batch.submissions, report_hrefs)
                if submission.status == "error"]
    reviews = review_groups(batch, report_hrefs)
    return render_page("summary.html.j2", batch=batch, rows=rows, parts=parts, checks=checks,
                       questions=questions, distribution=distribution, failures=failures, home_href=home_href,
                       reviews=reviews, review_count=sum(len(group.items) for group in reviews),
                       pending_points=round(sum(s.points_pending_review for s in batch.graded), 4),
                       plots=plot_groups(batch, report_hrefs), late_column=any(s.late for s in batch.submissions),
                       course=course)


def check_anchor(check: CheckResult) -> str:
    """Fragment id of a check's row in its report (as `CheckView.anchor`)."""
    return "check-" + slug(f"{check.part}-{check.name}")


def review_groups(batch: BatchResult, report_hrefs: list[str]) -> list[ReviewGroup]:
    """Per question, in order of first appearance, the answers flagged for review and not yet overridden."""
    groups: dict[tuple[str, str], ReviewGroup] = {}
    for submission, href in zip(batch.submissions, report_hrefs):
        for check in submission.checks:
            if not check.needs_review or check.override is not None:
                continue
            prompt = plain_text(check.answer.prompt) if check.answer is not None else ""
            group = groups.setdefault((check.part, check.name), ReviewGroup(check.part, check.name, prompt))
            anchor = ("answer-" if check.answer is not None else "") + check_anchor(check)
            reasons = [str(reason) for reason in check.diagnostics.get("review_reasons", [])] or ["low confidence"]
            pairs = [pair for pair in check.diagnostics.get("near_copy_of", []) if isinstance(pair, dict)]
            group.items.append(ReviewItem(submission.student, f"{href}#{anchor}", check.score, check.max_score,
                                          check.pending_points, reasons,
                                          plain_text(check.answer.text) if check.answer is not None else "", pairs))
    return list(groups.values())


def plot_groups(batch: BatchResult, report_hrefs: list[str]) -> list[PlotGroup]:
    """Per plotting question, a link to each student's plot (figures of kind `plot`) in their report."""
    groups: dict[tuple[str, str], PlotGroup] = {}
    for submission, href in zip(batch.submissions, report_hrefs):
        for check in submission.checks:
            if check.visibility == Visibility.HIDDEN or not any(f.kind == "plot" for f in check.figures):
                continue
            prompt = plain_text(check.answer.prompt) if check.answer is not None else ""
            group = groups.setdefault((check.part, check.name), PlotGroup(check.part, check.name, prompt))
            group.links.append((submission.student, f"{href}#pictures-{check_anchor(check)}"))
    return list(groups.values())


def report_names(batch: BatchResult) -> list[str]:
    """A distinct file name for each submission's report, in batch order: `reports/<student>-<part>.html`."""
    names: list[str] = []
    taken: set[str] = set()
    for submission in batch.submissions:
        stem = slug(f"{submission.student}-{submission.assignment}" if submission.assignment else submission.student)
        name, number = stem, 1
        while name in taken:
            number += 1
            name = f"{stem}-{number}"
        taken.add(name)
        names.append(f"{REPORTS_FOLDER}/{name}.html")
    return names


def late_views(submission: SubmissionResult) -> list[LateView]:
    """Each part with a deadline: when it was due and submitted, how late, the policy and the points deducted."""
    return [LateView(late.part, late.deadline, late.submitted_at, describe(late), policy_text(late),
                     submission.parts.get(late.part, (0.0, 0.0))[0], submission.part_penalty(late.part))
            for late in submission.late]


def part_views(submission: SubmissionResult) -> list[PartView]:
    """The submission's checks grouped by part, in declaration order."""
    grouped: dict[str, list[CheckView]] = defaultdict(list)
    for check in submission.checks:
        grouped[check.part].append(check_view(check))
    return [PartView(part, *submission.parts[part], views) for part, views in grouped.items()]


def check_view(check: CheckResult) -> CheckView:
    """What a report may show of one check."""
    if check.visibility == Visibility.HIDDEN:
        return CheckView(check, [], [])
    return CheckView(check, diagnostic_rows(check.diagnostics), [draw(figure) for figure in check.figures])


def diagnostic_rows(diagnostics: dict[str, Any]) -> list[Diagnostic]:
    """Known keys first in a fixed order, then the rest as given."""
    keys = [key for key in DIAGNOSTIC_ORDER if key in diagnostics]
    keys += [key for key in diagnostics if key not in DIAGNOSTIC_ORDER]
    return [diagnostic(key, diagnostics[key]) for key in keys]


def diagnostic(key: str, value: Any) -> Diagnostic:
    """One diagnostic as short text: percentages for fractions, 4 significant digits, long lists cut."""
    label = DIAGNOSTIC_LABELS.get(key, key.replace("_", " "))
    if isinstance(value, str) and "\n" in value.strip():
        text = plain_text(value)
        return Diagnostic(label, text if len(text) <= MAX_BLOCK_CHARS else "…" + text[-MAX_BLOCK_CHARS:], True)
    if isinstance(value, dict) and value and len(value) <= MAX_SHOWN_ITEMS:
        return Diagnostic(label, "", parts=tuple(diagnostic_rows(value)))
    if key.endswith("_fraction") and isinstance(value, (int, float)) and not isinstance(value, bool):
        return Diagnostic(label, f"{value:.2%}")
    return Diagnostic(label, _short(_compact(value)))


def _compact(value: Any) -> str:
    """Numbers to 4 significant digits, lists in brackets cut after MAX_SHOWN_ITEMS items."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        shown = ", ".join(_compact(item) for item in value[:MAX_SHOWN_ITEMS])
        more = f", … ({len(value)} items)" if len(value) > MAX_SHOWN_ITEMS else ""
        return f"[{shown}{more}]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_compact(v)}" for k, v in value.items()) + "}"
    return plain_text(str(value))


def _short(text: str) -> str:
    """At most MAX_SHOWN_CHARS characters."""
    return text if len(text) <= MAX_SHOWN_CHARS else text[:MAX_SHOWN_CHARS] + "…"


def student_rows(batch: BatchResult, report_hrefs: list[str]) -> tuple[list[StudentRow], list[str]]:
    """One row per student with a cell per part, and every part in order of first appearance."""
    rows: dict[str, StudentRow] = {}
    parts: dict[str, None] = {}
    for submission, href in zip(batch.submissions, report_hrefs):
        row = rows.setdefault(submission.student, StudentRow(submission.student))
        totals = submission.parts or {submission.assignment: (0.0, submission.declared_max_score)}
        for part, (score, maximum) in totals.items():
            parts.setdefault(part, None)
            cell = row.cells.setdefault(part, Cell(href=href))
            penalty = submission.part_penalty(part)
            cell.score, cell.max_score = round(cell.score + score - penalty, 4), round(cell.max_score + maximum, 4)
            cell.penalty = round(cell.penalty + penalty, 4)
            cell.days_late = max([cell.days_late, *(late.days_charged for late in submission.late if late.part == part)])
            cell.error = cell.error or submission.status == "error"
            cell.pending = round(cell.pending + sum(c.pending_points for c in submission.checks if c.part == part), 4)
    return list(rows.values()), list(parts)


def check_rates(batch: BatchResult) -> list[CheckRate]:
    """Per check (part, name), in order of first appearance: status counts, mean points, reviews needed."""
    rates: dict[tuple[str, str], CheckRate] = {}
    for submission in batch.graded:
        for check in submission.checks:
            rate = rates.setdefault((check.part, check.name),
                                    CheckRate(check.part, check.name, check.max_score, check.visibility.value))
            rate.counts[check.status.value] += 1
            rate.total_score += check.score
            rate.needs_review += check.needs_review
            if check.answer is not None and not rate.prompt:
                rate.prompt = plain_text(check.answer.prompt) or check.name
    return list(rates.values())


def plain_text(text: str) -> str:
    """Text without terminal colour codes or control characters (newlines and tabs kept)."""
    return CONTROL_CHARACTERS.sub("", ANSI_ESCAPE.sub("", text or ""))


def format_points(value: float) -> str:
    """Points without needless decimals: 2 → '2', 1.5 → '1.5', 0.3333 → '0.33'."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if value == value else "–"


def format_percent(fraction: float) -> str:
    """A fraction in [0, 1] as a whole percentage."""
    return f"{100 * fraction:.0f}%"


def slug(text: str) -> str:
    """A file-name-safe, lower-case version of `text` ('submission' when nothing is left)."""
    cleaned = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return cleaned[:80] or "submission"


def inline_spans(text: str, *, code_only: bool = False) -> list[tuple[str, str]]:
    """Markdown's inline `code`, **strong** and *emphasis* (only `code` with `code_only`) as (kind, text) pairs."""
    spans = []
    for index, piece in enumerate((CODE_MARKUP if code_only else INLINE_MARKUP).split(text)):
        if index % 2 == 0:  # re.split puts the captured markup at odd positions
            spans += [("text", piece)] if piece else []
            continue
        kind, (start, end) = next((kind, marks) for kind, marks in INLINE_KINDS.items() if piece.startswith(marks[0]))
        spans.append((kind, piece[len(start):len(piece) - len(end)]))
    return spans
