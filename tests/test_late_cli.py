"""Late work through the real `grader check`: a copy of the fixture course with a deadline, submissions dated by
their modification time, by a CSV file and by git commits; results.json, the CSV gradebook, the HTML reports."""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import FIXTURE_COURSE, REPO, run_grader

DUE = datetime(2026, 12, 1, 23, 59, tzinfo=timezone(timedelta(hours=-5)))
DEADLINE = ('\n[deadlines]\ntiny = "2026-12-01T23:59:00-05:00"\n'
            '[late]\nper_day = 0.1\ncap = 0.5\ngrace = "15m"\n')
SUBMISSIONS = FIXTURE_COURSE / "submissions"
SCHEMA = json.loads((REPO / "tests" / "schemas" / "results.schema.json").read_text())
# student: (fixture notebook, submitted this long after the deadline)
STUDENTS = {"olga": ("all_correct", timedelta(hours=-1)),        # on time: 6 of 6
            "gus": ("all_correct", timedelta(minutes=10)),       # within the 15-minute grace: 6 of 6
            "lena": ("missing_function", timedelta(days=1, hours=5))}  # 2 started days late: 4 earned, less 20%


def place(root: Path, student: str, notebook: str) -> Path:
    """A copy of a fixture notebook as `<root>/<student>/tiny.ipynb`."""
    path = root / student / "tiny.ipynb"
    path.parent.mkdir(parents=True)
    shutil.copy(SUBMISSIONS / f"{notebook}.ipynb", path)
    return path


def check(course: Path, tiny_home: Path, *args: str):
    """`grader check` for `course`, its data at `tiny_home`."""
    return run_grader("--course", str(course), "check", "--timeout", "20", *args,
                      env={"TINY_HOME": str(tiny_home), "GRADER_COURSE": ""}, timeout=300)


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A copy of the fixture course whose one part is due 2026-12-01 23:59 at UTC-5: 10% a day, at most 50%."""
    folder = tmp_path_factory.mktemp("late") / "course"
    shutil.copytree(FIXTURE_COURSE, folder, ignore=shutil.ignore_patterns("__pycache__", "submissions"))
    with open(folder / "course.toml", "a") as handle:
        handle.write(DEADLINE)
    return folder


@pytest.fixture(scope="module")
def by_mtime(course, tiny_home, tmp_path_factory):
    """Three submissions dated by their files' modification times, graded once in every format the test reads."""
    root = tmp_path_factory.mktemp("mtime")
    for student, (notebook, after) in STUDENTS.items():
        stamp = (DUE + after).timestamp()
        os.utime(place(root / "submissions", student, notebook), (stamp, stamp))
    out = root / "out"
    done = check(course, tiny_home, str(root / "submissions"), "--out", str(out),
                 "--format", "table", "--format", "json", "--format", "csv", "--format", "html")
    assert done.returncode == 0, done.stderr
    document = json.loads((out / "results.json").read_text())
    return done, out, {s["student"]: s for s in document["submissions"]}, document


def test_results_json_holds_raw_penalty_and_final_score(by_mtime):
    _, _, students, document = by_mtime
    jsonschema.validate(document, SCHEMA)
    olga, gus, lena = students["olga"], students["gus"], students["lena"]
    assert (olga["score"], olga["raw_score"], olga["late"][0]["seconds_late"]) == (6, 6, 0)
    assert (gus["score"], gus["late"][0]["seconds_late"], gus["late"][0]["days_charged"]) == (6, 600, 0)
    assert lena["score"] == 3.2 and lena["raw_score"] == 4 and lena["max_score"] == 6
    assert lena["late"] == [{"part": "tiny", "deadline": "2026-12-01T23:59:00-05:00",
                             "submitted_at": "2026-12-03T04:59:00-05:00", "seconds_late": 29 * 3600, "days_charged": 2,
                             "penalty_fraction": 0.2, "per_day": 0.1, "cap": 0.5, "grace_seconds": 900,
                             "raw_score": 4, "penalty_points": 0.8, "final_score": 3.2}]
    assert datetime.fromisoformat(lena["submitted_at"]) == DUE + timedelta(days=1, hours=5)


def test_csv_gradebook_counts_the_final_score_and_shows_raw_and_penalty(by_mtime):
    _, out, _, _ = by_mtime
    with open(out / "gradebook.csv", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert (rows["lena"]["tiny"], rows["lena"]["total"], rows["lena"]["raw_total"], rows["lena"]["late_penalty"],
            rows["lena"]["late"]) == ("3.2", "3.2", "4", "0.8", "tiny: 2 days")
    assert (rows["gus"]["tiny"], rows["gus"]["late_penalty"], rows["gus"]["late"]) == ("6", "0", "")


def test_terminal_table_has_a_late_column(by_mtime):
    done, _, _, _ = by_mtime
    rows = {line.split("│")[1].strip(): line for line in done.stdout.splitlines() if line.startswith("│")
            and line.split("│")[2].strip() == "tiny"}  # the summary table's rows, by student
    assert "3.2/6" in rows["lena"] and "2 days: -0.8 of 4 earned" in rows["lena"]
    assert "within grace" in rows["gus"] and "6/6" in rows["gus"]


class Texts(HTMLParser):
    """The text of every element with an id or class, by that id or class (several texts per class)."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[list[str]] = []
        self.found: dict[str, list[str]] = {}

    def handle_starttag(self, tag, attrs):
        names = [value for key, value in attrs if key == "id"]
        names += [f".{name}" for key, value in attrs if key == "class" for name in (value or "").split()]
        self.open.append(names)
        for name in names:
            self.found.setdefault(name, []).append("")

    def handle_endtag(self, tag):
        if self.open:
            self.open.pop()

    def handle_data(self, data):
        for names in self.open:
            for name in names:
                self.found[name][-1] += data


def texts(path: Path) -> dict[str, list[str]]:
    """Texts of a page by id and class."""
    parser = Texts()
    parser.feed(path.read_text())
    return {name: [" ".join(text.split()) for text in found] for name, found in parser.found.items()}


def test_html_report_shows_raw_penalty_final_and_the_policy(by_mtime):
    _, out, _, _ = by_mtime
    lena = texts(out / "reports" / "lena-tiny.html")
    assert lena["total-score"][0].startswith("3.2 / 6 points (53%)")
    assert lena["late-total"][0] == ("The checks earned 4 points; 0.8 were deducted because the work came in after "
                                     "its deadline, leaving 3.2.")
    row = lena["late-tiny"][0]
    assert "1 d 5 h late, charged as 2 days (each day started counts): 20% of the points deducted" in row
    assert "10% of the points earned per day started, at most 50%, after a 15 min grace period" in row
    assert (lena[".raw-score"][-1], lena[".penalty"][-1], lena[".final-score"][-1]) == ("4", "0.8", "3.2")
    gus = texts(out / "reports" / "gus-tiny.html")
    assert "late-total" not in gus and "within the 15 min grace period: on time" in gus["late-tiny"][0]


def test_class_summary_has_a_late_column(by_mtime):
    _, out, _, _ = by_mtime
    page = texts(out / "index.html")
    assert page[".late-penalty"] == ["on time", "tiny: 2 days, −0.8", "on time"]  # gus, lena, olga
    assert "4 earned, −0.8 late" in page[".late"]


def test_submission_times_from_a_csv_file(course, tiny_home, tmp_path):
    place(tmp_path / "submissions", "lena", "missing_function")
    times = tmp_path / "times.csv"
    times.write_text("student,assignment,submitted_at\nlena,tiny,2026-12-10T12:00:00+00:00\n")
    done = check(course, tiny_home, str(tmp_path / "submissions"), "--out", str(tmp_path / "out"),
                 "--format", "json", "--submitted-at", str(times))
    assert done.returncode == 0, done.stderr
    [lena] = json.loads((tmp_path / "out" / "results.json").read_text())["submissions"]
    assert lena["submitted_at"] == "2026-12-10T12:00:00+00:00"
    assert (lena["late"][0]["days_charged"], lena["score"]) == (9, 2)  # capped at 50% of 4


def test_a_bad_csv_file_is_refused_before_grading(course, tiny_home, tmp_path):
    times = tmp_path / "times.csv"
    times.write_text("student,assignment,submitted_at\nlena,tiny,2026-12-10 12:00\n")
    done = check(course, tiny_home, str(SUBMISSIONS / "all_correct.ipynb"), "--submitted-at", str(times))
    assert done.returncode == 2 and "line 2" in done.stderr and "has no UTC offset" in done.stderr


def git(repo: Path, *args: str, when: str = "") -> None:
    """Run git in `repo`, committing at `when` (author and committer date) when given."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "s", "GIT_AUTHOR_EMAIL": "s@example.org", "GIT_COMMITTER_NAME": "s",
           "GIT_COMMITTER_EMAIL": "s@example.org", **({"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when} if when else {})}
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def test_submission_times_from_git_commits(course, tiny_home, tmp_path):
    repo = tmp_path / "classroom"
    path = place(repo, "lena", "missing_function")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first try", when="2026-11-30T10:00:00+00:00")
    path.write_text(path.read_text() + "\n")
    git(repo, "commit", "-qam", "pushed late", when="2026-12-04T06:00:00+00:00")  # 2 days 1 h 1 min late: 3 days
    untracked = place(tmp_path / "elsewhere", "sam", "all_correct")
    done = check(course, tiny_home, str(path), str(untracked), "--out", str(tmp_path / "out"), "--format", "json",
                 "--submitted-at", "git")
    assert done.returncode == 3, done.stderr
    lena, sam = json.loads((tmp_path / "out" / "results.json").read_text())["submissions"]
    assert lena["submitted_at"] == "2026-12-04T06:00:00+00:00"
    assert (lena["late"][0]["days_charged"], lena["raw_score"], lena["score"]) == (3, 4, 2.8)
    assert sam["status"] == "error" and "cannot tell when it was submitted" in sam["error"]
    assert "not in a git repository" in sam["error"] and "late" not in sam
