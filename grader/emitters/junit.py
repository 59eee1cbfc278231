"""JUnit XML: one testsuite per submission, one testcase per check, scores as properties."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from grader.emitters.per_submission import assignment_name, full_message, number, problem_lines
from grader.results import BatchResult, CheckResult, Status, SubmissionResult


def emit(batch: BatchResult, *, out_dir: Path) -> list[Path]:
    """Write `out_dir/junit.xml`."""
    path = Path(out_dir) / "junit.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(report(batch))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return [path]


def report(batch: BatchResult) -> ET.Element:
    """The <testsuites> element for a batch."""
    suites = [_suite(s) for s in batch.submissions]
    totals = {k: v for k, v in _counts(suites).items() if k != "skipped"}  # junit-10.xsd: no `skipped` here
    root = ET.Element("testsuites", name="grader", **totals, time=_seconds(sum(s.seconds for s in batch.submissions)))
    root.extend(suites)
    return root


def _suite(submission: SubmissionResult) -> ET.Element:
    """One submission: properties with its totals, then its checks (or one error when it could not be graded)."""
    cases = [_case(submission, c) for c in submission.checks]
    if submission.error is not None:
        case = ET.Element("testcase", name="grading", classname=_classname(submission), time="0")
        ET.SubElement(case, "error", message=submission.error, type="not_graded").text = submission.error
        cases = [case]
    suite = ET.Element("testsuite", name=f"{submission.student}/{assignment_name(submission)}",
                       **_counts(cases), time=_seconds(submission.seconds),
                       timestamp=submission.graded_at[:19], hostname="localhost")
    properties = ET.SubElement(suite, "properties")
    values = {"student": submission.student, "assignment": submission.assignment, "path": submission.path,
              "status": submission.status, "score": number(submission.score),
              "max_score": number(submission.max_score)}
    if submission.late:  # `score` is the final score: what the checks earned less the late penalty
        values.update(raw_score=number(submission.raw_score), late_penalty=number(submission.penalty_points),
                      submitted_at=submission.submitted_at)
    values.update({f"score.{c.part}.{c.name}": f"{number(c.score)}/{number(c.max_score)}"
                   for c in submission.checks})
    for name, value in values.items():
        ET.SubElement(properties, "property", name=name, value=str(value))
    suite.extend(cases)
    problems = problem_lines(submission)
    if problems:
        ET.SubElement(suite, "system-err").text = "\n".join(problems)
    return suite


def _case(submission: SubmissionResult, check: CheckResult) -> ET.Element:
    """One check: a <failure> when points were lost, also when it never ran (type `not_run`, with the reason):
    a check that could not run is lost points, and CI tools count <skipped> as neither passed nor failed."""
    case = ET.Element("testcase", name=check.name, classname=_classname(submission, check.part),
                      time=_seconds(check.seconds))
    message = full_message(check)
    points = f"{number(check.score)} of {number(check.max_score)} points"
    if check.status in (Status.FAILED, Status.PARTIAL, Status.NOT_RUN):
        ET.SubElement(case, "failure", message=f"{points}: {message}".rstrip(": "),
                      type=check.status.value).text = message
    ET.SubElement(case, "system-out").text = points
    return case


def _classname(submission: SubmissionResult, part: str = "") -> str:
    """`student.assignment` (plus the part when it differs from the assignment)."""
    names = [submission.student, assignment_name(submission)]
    if part and part != submission.assignment:
        names.append(part)
    return ".".join(names)


def _counts(cases: list[ET.Element]) -> dict[str, str]:
    """tests / failures / errors / skipped attributes summed over testcases or testsuites."""
    if cases and cases[0].tag == "testsuite":
        return {k: str(sum(int(c.get(k)) for c in cases)) for k in ("tests", "failures", "errors", "skipped")}
    tally = {"tests": len(cases), "failures": 0, "errors": 0, "skipped": 0}
    for case in cases:
        for tag, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            tally[key] += case.find(tag) is not None
    return {k: str(v) for k, v in tally.items()}


def _seconds(value: float) -> str:
    """A duration attribute in seconds with millisecond precision."""
    return f"{value:.3f}"
