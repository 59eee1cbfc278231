"""Deadlines and late penalties: the policy's arithmetic at its boundaries, course.toml validation, the results model."""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone

import jsonschema
import pytest

from grader.course import CourseError, load_course
from grader.late import DAY, Deadline, DeadlineError, LatePolicy, assess, parse_duration, parse_policy, parse_time
from grader.results import CheckResult, Status, SubmissionResult
from grader.submitted import parse_source
from tests.conftest import FIXTURE_COURSE, REPO

DUE = datetime(2026, 12, 1, 23, 59, tzinfo=timezone(timedelta(hours=-5)))
POLICY = LatePolicy(per_day=0.1, cap=0.5, grace_seconds=15 * 60)
SCHEMA = json.loads((REPO / "tests" / "schemas" / "results.schema.json").read_text())


def late_by(seconds: float, policy: LatePolicy = POLICY):
    """The late record of a part submitted `seconds` after DUE."""
    return Deadline("tiny", DUE, policy).lateness(DUE + timedelta(seconds=seconds))


@pytest.mark.parametrize("seconds, days, fraction", [
    (-3600, 0, 0.0),               # early
    (0, 0, 0.0),                   # exactly at the deadline
    (15 * 60, 0, 0.0),             # at the end of the grace period
    (15 * 60 + 1, 1, 0.1),         # one second after grace: a started day, counted from the deadline
    (DAY, 1, 0.1),                 # exactly 24 hours
    (DAY + 1, 2, 0.2),             # a second into the second day
    (2 * DAY, 2, 0.2),
    (4 * DAY + 1, 5, 0.5),         # reaches the cap
    (30 * DAY, 30, 0.5),           # many days: capped
])
def test_days_charged_and_fraction_at_the_boundaries(seconds, days, fraction):
    late = late_by(seconds)
    assert (late.days_charged, late.penalty_fraction) == (days, fraction)
    assert late.seconds_late == max(0, seconds)


def test_without_grace_one_second_late_is_a_day():
    assert late_by(1, LatePolicy(per_day=0.25)).penalty_fraction == 0.25
    assert late_by(0, LatePolicy(per_day=0.25)).days_charged == 0


def test_a_fractional_second_late_counts_as_late():
    assert late_by(0.2, LatePolicy(per_day=0.1)).days_charged == 1


def test_the_late_record_gives_the_submission_time_in_the_deadline_zone():
    late = Deadline("tiny", DUE, POLICY).lateness(datetime(2026, 12, 2, 5, 0, tzinfo=timezone.utc))
    assert (late.submitted_at, late.seconds_late, late.days_charged) == ("2026-12-02T00:00:00-05:00", 60, 0)


@pytest.mark.parametrize("text, seconds", [("15m", 900), ("1h30m", 5400), ("2d", 2 * DAY), ("90s", 90), ("0", 0),
                                           ("1.5h", 5400), (" 1d 2h ", DAY + 7200)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["15", "15 minutes", "m", "-5m", "1w", ""])
def test_bad_durations_say_how_to_write_one(text):
    with pytest.raises(DeadlineError, match="is not a duration"):
        parse_duration(text, where="[late] grace")


def test_a_naive_time_is_refused_with_the_fix():
    with pytest.raises(DeadlineError, match="has no UTC offset.*2026-12-01T23:59:00-05:00"):
        parse_time("2026-12-01T23:59:00", where="x")
    with pytest.raises(DeadlineError, match="not an ISO 8601 time"):
        parse_time("next tuesday", where="x")
    assert parse_time("2026-12-02T04:59:00Z", where="x") == DUE


@pytest.mark.parametrize("table, message", [
    ({"per_day": 1.5}, "outside 0..1"), ({"cap": -0.1}, "outside 0..1"), ({"per_day": "10%"}, "not a number"),
    ({"per_days": 0.1}, "unknown key 'per_days'"), ({"grace": "soon"}, "not a duration")])
def test_bad_policies(table, message):
    with pytest.raises(DeadlineError, match=message):
        parse_policy(table, where="[late]")


def course_with(tmp_path, text: str):
    """A copy of the fixture course with `text` appended to its course.toml, loaded."""
    course = tmp_path / "course"
    shutil.copytree(FIXTURE_COURSE, course, ignore=shutil.ignore_patterns("__pycache__", "submissions"))
    with open(course / "course.toml", "a") as handle:
        handle.write("\n" + text)
    return load_course(course)


def test_course_deadlines_with_a_part_policy(tmp_path):
    course = course_with(tmp_path, '[deadlines]\ntiny = "2026-12-01T23:59:00-05:00"\n'
                                   '[late]\nper_day = 0.1\ncap = 0.5\ngrace = "15m"\n[late.parts.tiny]\nper_day = 0.2\n')
    assert course.deadlines["tiny"] == Deadline("tiny", DUE, LatePolicy(per_day=0.2, cap=0.5, grace_seconds=900))


def test_a_toml_datetime_works_and_a_deadline_without_policy_only_records(tmp_path):
    course = course_with(tmp_path, "[deadlines]\ntiny = 2026-12-01T23:59:00-05:00\n")
    assert course.deadlines["tiny"] == Deadline("tiny", DUE, LatePolicy())
    assert course.deadlines["tiny"].lateness(DUE + timedelta(days=3)).penalty_fraction == 0


def test_a_course_without_deadlines_has_none():
    assert load_course(FIXTURE_COURSE).deadlines == {}


@pytest.mark.parametrize("text, message", [
    ('[deadlines]\nbaseline = "2026-12-01T23:59:00-05:00"\n', r"\[deadlines\] names part 'baseline'.*parts: tiny"),
    ("[deadlines]\ntiny = 2026-12-01T23:59:00\n", "tiny.*has no UTC offset"),
    ('[deadlines]\ntiny = "2026-12-01T23:59:00-05:00"\n[late]\ncap = 2\n', r"\[late\]\.cap: 2 is outside 0..1"),
    ('[deadlines]\ntiny = "2026-12-01T23:59:00-05:00"\n[late]\ngrace = "a while"\n', "not a duration"),
    ('[deadlines]\ntiny = "2026-12-01T23:59:00-05:00"\n[late.parts.sgd]\nper_day = 0.1\n',
     r"\[late.parts\] names part 'sgd'"),
    ('[late.parts.tiny]\nper_day = 0.1\n', "no deadline"),
])
def test_course_deadline_errors_name_the_problem(tmp_path, text, message):
    with pytest.raises(CourseError, match=message):
        course_with(tmp_path, text)


def graded(scores: list[float], part: str = "tiny") -> SubmissionResult:
    """A graded submission whose checks earned `scores` of 2 points each."""
    checks = [CheckResult(f"c{i}", part, score, 2.0, Status.PASSED if score == 2 else Status.PARTIAL, "")
              for i, score in enumerate(scores)]
    return SubmissionResult(path="alice/tiny.ipynb", student="alice", assignment=part, checks=checks)


def test_score_is_final_and_raw_score_stays_visible():
    result = graded([2, 2, 1])
    assess(result, DUE + timedelta(days=1, hours=1), {"tiny": Deadline("tiny", DUE, POLICY)})
    assert (result.raw_score, result.penalty_points, result.score) == (5, 1.0, 4.0)
    assert result.fraction == 4 / 6
    document = result.to_dict()
    assert (document["score"], document["raw_score"]) == (4.0, 5)
    assert document["late"] == [{"part": "tiny", "deadline": DUE.isoformat(),
                                 "submitted_at": "2026-12-03T00:59:00-05:00",
                                 "seconds_late": DAY + 3600, "days_charged": 2, "penalty_fraction": 0.2,
                                 "per_day": 0.1, "cap": 0.5, "grace_seconds": 900, "raw_score": 5,
                                 "penalty_points": 1.0, "final_score": 4.0}]
    assert SubmissionResult.from_dict(document).to_dict() == document
    jsonschema.validate({"schema_version": 1, "grader_version": "x", "created": "", "sandboxed": True,
                         "submissions": [document]}, SCHEMA)


def test_overrides_change_the_raw_score_and_the_penalty_follows():
    result = graded([2, 0])
    assess(result, DUE + timedelta(days=2), {"tiny": Deadline("tiny", DUE, POLICY)})
    assert result.score == 1.6
    result.checks[1] = result.checks[1].overridden(2, "regraded")
    assert (result.raw_score, result.penalty_points, result.score) == (4, 0.8, 3.2)


def test_ungradable_and_undeadlined_submissions_get_no_penalty_arithmetic():
    failed = SubmissionResult.without_results("not a notebook", path="x.ipynb", student="x", assignment="tiny",
                                              declared_max_score=6)
    assess(failed, DUE + timedelta(days=9), {"tiny": Deadline("tiny", DUE, POLICY)})
    assert failed.late == [] and failed.submitted_at and "late" not in failed.to_dict()
    other = graded([2], part="sgd")
    assess(other, DUE + timedelta(days=9), {"tiny": Deadline("tiny", DUE, POLICY)})
    assert other.late == [] and other.score == 2 and "raw_score" not in other.to_dict()


def test_without_deadlines_the_document_is_unchanged():
    document = graded([2, 1]).to_dict()
    assert not {"submitted_at", "late", "raw_score"} & set(document) and document["score"] == 3


def test_submitted_at_csv_errors_name_the_line(tmp_path):
    good = tmp_path / "times.csv"
    good.write_text("student,assignment,submitted_at\nalice,tiny,2026-12-02T04:59:00Z\n")
    assert parse_source(str(good)).rows == {("alice", "tiny"): DUE}
    for body, message in [("student,submitted_at\nalice,2026-12-02T04:59:00Z\n", "missing assignment"),
                          ("student,assignment,submitted_at\nalice,tiny,2026-12-02 04:59\n", "line 2.*no UTC offset"),
                          ("student,assignment,submitted_at\nalice,tiny,2026-12-02T04:59Z\nalice,tiny,"
                           "2026-12-03T04:59Z\n", "line 3: a second time"),
                          ("student,assignment,submitted_at\n,tiny,2026-12-02T04:59Z\n", "must not be empty")]:
        bad = tmp_path / "bad.csv"
        bad.write_text(body)
        with pytest.raises(Exception, match=message):
            parse_source(str(bad))
    with pytest.raises(Exception, match="neither mtime, git nor a CSV file"):
        parse_source(str(tmp_path / "missing.csv"))


def test_every_format_reports_the_final_score_and_keeps_the_raw_one(tmp_path):
    from grader.emitters import classroom50, csv_gradebook, github, gradescope, junit, prairielearn
    from grader.results import BatchResult

    result = graded([2, 2, 1])
    assess(result, DUE + timedelta(days=1, hours=1), {"tiny": Deadline("tiny", DUE, POLICY)})  # 5 earned, less 1
    blob = github.result_blob(result)
    assert sum(test["score"] for test in blob["tests"]) == 4 and blob["max_score"] == 6
    assert "less 1 for late work" in github.step_summary(result) and "20% of the points deducted" in \
        github.step_summary(result)
    assert classroom50.result_document(result)["score"] == 4
    document = gradescope.results_document(result)
    assert document["score"] == 4 and "1 point deducted (late policy: 10% of the points earned" in document["output"]
    assert prairielearn.results_document(result)["score"] == 4 / 6
    properties = {p.get("name"): p.get("value") for p in junit.report(BatchResult([result])).iter("property")}
    assert (properties["score"], properties["raw_score"], properties["late_penalty"]) == ("4", "5", "1")
    csv_gradebook.emit(BatchResult([result]), out_dir=tmp_path)
    assert (tmp_path / "gradebook.csv").read_text().splitlines() == [
        "student,tiny,total,max_score,not_graded,raw_total,late_penalty,late", "alice,4,4,6,,5,1,tiny: 2 days"]


def test_a_submission_the_source_cannot_date_is_not_graded_and_one_already_ungradable_keeps_its_error():
    from grader.submitted import SubmissionTimes, stamping

    seen = []
    stamp = stamping(lambda number, total, result: seen.append(result), SubmissionTimes("csv", {}, "times.csv"),
                     {"tiny": Deadline("tiny", DUE, POLICY)})
    result = graded([2, 2])
    stamp(1, 2, result)
    assert result.status == "error" and result.checks == [] and seen == [result]
    assert result.error == "cannot tell when it was submitted: no submission time for student 'alice', assignment " \
                           "'tiny' in times.csv"
    missing = SubmissionResult.without_results("notebook not found: x", path="x", student="x", assignment="tiny")
    stamp(2, 2, missing)
    assert missing.error == "notebook not found: x" and missing.submitted_at is None
