"""The gradebook through the real `grader check` and `grader gradebook` commands, against SQLite and PostgreSQL.

One flow per backend grades a class of three small notebooks of the fixture course: a run killed after its first
submission is recorded, a rerun that grades only the rest (the others unchanged: reused), a regrade after one
check's tolerance changed (of two students: the third's latest result stays the rerun's), and a run that grades
an unchanged notebook again with --force; the commands then read that gradebook.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import nbformat
import pytest
from sqlalchemy import create_engine, text

from conftest import FIXTURE_COURSE, REPO, run_grader
from gradebook_postgres import postgres_server

# Canvas's gradebook import (https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807,
# and as a university's guide spells out the required columns:
# https://teaching.resources.osu.edu/toolsets/carmencanvas/guides/calculating-final-grades/import-csv-file-carmen-grades):
# the student columns, then one column per assignment; the row under the header gives each one's points possible.
SCHEMA = json.loads((REPO / "tests" / "schemas" / "results.schema.json").read_text())
CANVAS_STUDENT_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
CANVAS_POINTS_POSSIBLE = "Points Possible"
GOOD = {"seed": "import torch\nseeded = torch.rand(3)", "double": "def double(x):\n    return x * 2",
        "later": "later = 'done'",
        "total": "import os\nfrom pathlib import Path\nvalues = Path(os.environ['TINY_HOME'], 'data', 'numbers', "
                 "'values.txt')\ntotal = sum(float(v) for v in values.read_text().split())"}
ANSWERS = {"ada": "42", "ben": "42.01", "cy": "41"}  # rtol 1e-3 passes ben, not cy
CLASS = tuple(ANSWERS)


def write_class(folder: Path) -> Path:
    """One `<student>.ipynb` per student of ANSWERS, right but for `answer`."""
    folder.mkdir(parents=True)
    for student, answer in ANSWERS.items():
        sources = [GOOD["seed"], GOOD["double"], f"answer = {answer}", GOOD["later"], GOOD["total"]]
        notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources],
                                            metadata={"grader": {"assignment": "tiny"}})
        for number, cell in enumerate(notebook.cells):
            cell.id = f"cell-{number}"
        nbformat.write(notebook, folder / f"{student}.ipynb")
    return folder


def sql(url: str, query: str) -> list[tuple]:
    """Rows of one query on the gradebook (a fresh connection, as another process would read it)."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def pg():
    """A throwaway PostgreSQL server for this module: (URL, '') or (None, why none could start)."""
    with postgres_server() as server:
        yield server


def on_server(pg, name: str) -> str:
    """The URL of a new database `name` on the throwaway server (the test is skipped, with the reason, without one)."""
    server, reason = pg
    if server is None:
        pytest.skip(f"no PostgreSQL server could start: {reason}")
    sql_autocommit(server, f"CREATE DATABASE {name}")
    return server.replace("/postgres?", f"/{name}?")


def sql_autocommit(url: str, statement: str) -> None:
    """Run one statement outside a transaction (CREATE DATABASE needs that)."""
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(statement))
    engine.dispose()


def check(course: Path, tiny_home: Path, *args: str):
    """`grader check` of the fixture course copy `course`."""
    return run_grader("check", *args, env={"GRADER_COURSE": str(course), "TINY_HOME": str(tiny_home),
                                           "GRADER_NO_GRADEBOOK": "0"})  # whatever the suite's default


def run_flow(folder: Path, target: str, url: str, tiny_home: Path) -> dict:
    """The three runs of the module docstring on the gradebook at `target`; what each left, for the tests to read."""
    course = folder / "course"
    shutil.copytree(FIXTURE_COURSE, course, ignore=shutil.ignore_patterns("__pycache__", "gradebook.sqlite*"))
    pupils = write_class(folder / "class")
    env = {**os.environ, "GRADER_COURSE": str(course), "TINY_HOME": str(tiny_home), "GRADER_NO_GRADEBOOK": "0"}
    common = [str(pupils), "--gradebook", target, "--format", "json", "--workers", "1"]  # one kernel template each

    killed = subprocess.Popen([sys.executable, "-m", "grader", "check", *common, "--out", str(folder / "killed")],
                              env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    deadline, recorded = time.monotonic() + 120, []
    while time.monotonic() < deadline and killed.poll() is None:
        try:
            recorded = sql(url, "SELECT id FROM submissions")
        except Exception:  # the tables are not there yet
            recorded = []
        if recorded:
            break
        time.sleep(0.05)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    after_kill = {
        "submissions": sql(url, "SELECT student, status, score FROM submissions ORDER BY id"),
        "checks": sql(url, "SELECT s.student, count(c.id) FROM submissions s LEFT JOIN check_results c "
                           "ON c.submission_id = s.id GROUP BY s.student"),
        "runs": sql(url, "SELECT id, status, finished_at FROM runs"),
        "check_rows": sql(url, "SELECT count(*) FROM check_results")[0][0],
    }
    rerun = check(course, tiny_home, *common, "--out", str(folder / "rerun"))
    checks_file = course / "assignments" / "tiny" / "checks.py"
    checks_file.write_text(checks_file.read_text().replace('fetch=Value("answer"), compare=Scalar()',
                                                           'fetch=Value("answer"), compare=Scalar(rtol=1e-3)'))
    regrade = check(course, tiny_home, str(pupils / "ada.ipynb"), str(pupils / "ben.ipynb"), *common[1:], "--format",
                    "html", "--out", str(folder / "regrade"))  # cy is not graded again
    forced = check(course, tiny_home, str(pupils / "ada.ipynb"), *common[1:], "--force", "--out", str(folder / "forced"))
    return dict(folder=folder, course=course, target=target, url=url, after_kill=after_kill, rerun=rerun,
                regrade=regrade, forced=forced, env={"GRADER_COURSE": str(course), "TINY_HOME": str(tiny_home)})


@pytest.fixture(scope="module")
def flows(pg, tmp_path_factory, tiny_home):
    """The flow on each backend, both at once (each grading run mostly waits on its kernels)."""
    from concurrent.futures import ThreadPoolExecutor

    sqlite = tmp_path_factory.mktemp("gradebook-sqlite")
    backends = {"sqlite": (sqlite, str(sqlite / "book.sqlite"), f"sqlite:///{sqlite / 'book.sqlite'}")}
    if pg[0] is not None:
        url = on_server(pg, "flow")
        backends["postgresql"] = (tmp_path_factory.mktemp("gradebook-postgresql"), url, url)
    with ThreadPoolExecutor(len(backends)) as pool:
        running = {name: pool.submit(run_flow, *paths, tiny_home) for name, paths in backends.items()}
        return {name: future.result() for name, future in running.items()}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def flow(request, flows, pg):
    """One backend's flow (PostgreSQL's skipped, with the reason, where no server could start)."""
    if request.param not in flows:
        pytest.skip(f"no PostgreSQL server could start: {pg[1]}")
    return flows[request.param]


def results(flow, run: str) -> dict[str, dict]:
    """A run's results.json submissions by student."""
    document = json.loads((flow["folder"] / run / "results.json").read_text())
    return {submission["student"]: submission for submission in document["submissions"]}


def gradebook(flow, *args: str):
    """`grader gradebook ...` on the flow's gradebook: the real command, run in this process (no start-up to wait for;
    `grader check` runs in processes of its own): its exit code as `returncode`, its stdout and stderr."""
    from types import SimpleNamespace

    from typer.testing import CliRunner

    from grader.cli import app

    done = CliRunner().invoke(app, ["gradebook", *args, "--gradebook", flow["target"]], env=flow["env"])
    if done.exception is not None and not isinstance(done.exception, SystemExit):
        raise done.exception
    return SimpleNamespace(returncode=done.exit_code, stdout=done.stdout, stderr=done.stderr)


def test_a_killed_run_keeps_every_finished_submission_whole_and_a_rerun_grades_only_the_rest(flow):
    kept = flow["after_kill"]
    assert 1 <= len(kept["submissions"]) < len(CLASS), kept  # killed halfway: some recorded, not all
    assert {status for _, status, _ in kept["submissions"]} == {"graded"}
    assert dict(kept["checks"]) == {student: 5 for student, _, _ in kept["submissions"]}  # each with all 5 checks
    assert kept["check_rows"] == 5 * len(kept["submissions"])  # and no check result of an unfinished one
    assert [(status, finished) for _, status, finished in kept["runs"]] == [("running", None)]  # never finished

    assert flow["rerun"].returncode == 0, flow["rerun"].stderr
    rerun = results(flow, "rerun")
    reused = {student for student, result in rerun.items() if result.get("reused")}
    assert reused == {student for student, _, _ in kept["submissions"]}  # the finished ones, not run again
    assert set(rerun) == set(CLASS) and "unchanged: reused from the gradebook" in flow["rerun"].stderr
    started = {line.rsplit("(", 1)[1].split(")")[0] for line in flow["rerun"].stderr.splitlines()
               if line.startswith("grading ")}
    assert started == set(CLASS) - reused  # only the rest had a kernel
    for student in reused:
        assert "reused" not in results(flow, "regrade").get(student, {})  # the course changed: graded again
    jsonschema.validate(json.loads((flow["folder"] / "rerun" / "results.json").read_text()), SCHEMA)
    rows = sql(flow["url"], "SELECT student, reused FROM submissions WHERE run_id = 2")
    assert {student for student, was in rows if was} == reused and len(rows) == len(CLASS)


def test_force_grades_an_unchanged_notebook_again(flow):
    assert flow["forced"].returncode == 0, flow["forced"].stderr
    [ada] = results(flow, "forced").values()
    assert "reused" not in ada and ada["score"] == 6 and "grading " in flow["forced"].stderr
    assert sql(flow["url"], "SELECT student, reused FROM submissions WHERE run_id = 4") == [("ada", False)]


def test_a_regrade_diff_names_exactly_the_students_and_checks_whose_scores_moved(flow):
    assert flow["regrade"].returncode == 0, flow["regrade"].stderr
    done = gradebook(flow, "diff", "2", "3", "--json")
    assert done.returncode == 0, done.stderr
    changes = json.loads(done.stdout)["changes"]
    assert [(c["student"], c["part"], c["before"], c["after"], c["delta"]) for c in changes] == [
        ("ben", "tiny", 5.0, 6.0, 1.0)]
    for change in changes:
        assert [(c["key"], c["before"], c["after"], c["status_after"]) for c in change["checks"]] == [
            ("tiny/answer", 0.0, 1.0, "passed")]
    table = gradebook(flow, "diff", "2", "3")
    assert table.returncode == 0 and "ben" in table.stdout and "tiny/answer 0 → 1" in table.stdout
    assert "ada" not in table.stdout and "cy" not in table.stdout  # ada's score did not move; cy was not regraded
    last_two = json.loads(gradebook(flow, "diff", "--json").stdout)  # default: the last two runs, 3 and 4
    assert (last_two["run_a"], last_two["run_b"], last_two["changes"]) == (3, 4, [])  # ada graded again, the same


def test_the_class_summary_shows_the_whole_course_and_the_site_reads_the_gradebook(flow, tmp_path):
    summary = (flow["folder"] / "regrade" / "index.html").read_text()
    course = summary[summary.index('<table id="course-scores">'):]
    course = course[:course.index("</table>")]
    rows = {row.split("</th>")[0].split(">")[-1]: row for row in course.split('<th scope="row">')[1:]}
    assert set(rows) == set(CLASS)  # cy too, though this run graded only ada and ben
    assert "5 / 6" in rows["cy"] and "6 / 6" in rows["ben"] and "6 / 6" in rows["ada"]
    assert "not submitted" not in course
    site = run_grader("site", "--out", str(tmp_path / "site"), "--gradebook", flow["target"], env=flow["env"])
    assert site.returncode == 0, site.stderr
    built = tmp_path / "site" / "results"
    assert sorted(path.name for path in (built / "reports").iterdir()) == [f"{s}-tiny.html" for s in CLASS]
    assert '<table id="course-scores">' in (built / "index.html").read_text()


def test_show_and_history_read_every_run(flow):
    show = gradebook(flow, "show")
    assert show.returncode == 0, show.stderr
    for student, score in (("ada", "6/6"), ("ben", "6/6"), ("cy", "5/6")):
        assert any(line.split("│")[1:3] and student in line and score in line for line in show.stdout.splitlines())
    history = gradebook(flow, "history", "ben")  # graded in the rerun (5/6), then in the regrade (6/6)
    assert history.returncode == 0, history.stderr
    assert "2 recorded" in history.stdout and "5/6" in history.stdout and "6/6" in history.stdout
    first = gradebook(flow, "history", "ada")  # graded before the kill, reused in the rerun, regraded, forced
    assert "4 recorded" in first.stdout and "graded (reused)" in first.stdout
    missing = gradebook(flow, "history", "zed")
    assert missing.returncode == 2 and "no submission from student 'zed'" in missing.stderr


def test_the_canvas_export_has_canvas_s_gradebook_columns_and_points_possible(flow, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student,id,sis_user_id,sis_login_id,section\nada,101,S-1,ada@uni,Lab A\n")
    out = tmp_path / "canvas.csv"
    done = gradebook(flow, "export", "--format", "canvas", "--out", str(out), "--roster", str(roster))
    assert done.returncode == 0, done.stderr
    with open(out, newline="", encoding="utf-8") as handle:  # as Canvas reads an upload: CSV, header first
        reader = csv.reader(handle)
        header, points, *students = list(reader)
    assert header[:5] == CANVAS_STUDENT_COLUMNS and header[5:] == ["tiny"]
    assert points[0].strip() == CANVAS_POINTS_POSSIBLE and points[1:5] == ["", "", "", ""] and points[5] == "6"
    by_name = {row[0]: dict(zip(header, row)) for row in students}
    assert set(by_name) == set(CLASS)
    assert by_name["ada"] == {"Student": "ada", "ID": "101", "SIS User ID": "S-1", "SIS Login ID": "ada@uni",
                              "Section": "Lab A", "tiny": "6"}
    assert (by_name["cy"]["SIS Login ID"], by_name["cy"]["tiny"]) == ("cy", "5")


def test_the_moodle_and_plain_csv_exports(flow, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("student,email\n" + "".join(f"{s},{s}@example.org\n" for s in CLASS))
    assert gradebook(flow, "export", "--format", "moodle", "--out", str(tmp_path / "m.csv"), "--roster",
                     str(roster)).returncode == 0
    rows = list(csv.DictReader(open(tmp_path / "m.csv", newline="")))
    assert {row["Email address"]: row["tiny"] for row in rows} == {
        "ada@example.org": "6", "ben@example.org": "6", "cy@example.org": "5"}
    assert gradebook(flow, "export", "--out", str(tmp_path / "plain.csv")).returncode == 0
    rows = list(csv.DictReader(open(tmp_path / "plain.csv", newline="")))
    assert [(row["student"], row["tiny"], row["total"], row["max_score"]) for row in rows] == [
        ("ada", "6", "6", "6"), ("ben", "6", "6", "6"), ("cy", "5", "5", "6")]
    bad = gradebook(flow, "export", "--format", "blackboard", "--out", str(tmp_path / "x.csv"))
    assert bad.returncode == 2 and "unknown export format 'blackboard'" in bad.stderr


def test_imported_overrides_apply_to_the_latest_result(flow, tmp_path):
    overrides = tmp_path / "overrides.csv"
    overrides.write_text("student,check,points,comment\ncy,answer,1,41 is fine: the question was ambiguous\n")
    done = gradebook(flow, "import-overrides", str(overrides))
    assert done.returncode == 0, done.stderr
    assert sql(flow["url"], "SELECT student, check_key, points FROM overrides") == [("cy", "answer", 1.0)]
    assert gradebook(flow, "export", "--out", str(tmp_path / "after.csv")).returncode == 0
    rows = {row["student"]: row["tiny"] for row in csv.DictReader(open(tmp_path / "after.csv", newline=""))}
    assert rows["cy"] == "6"
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("student,check,points\nzed,answer,1\n")
    refused = gradebook(flow, "import-overrides", str(wrong))
    assert refused.returncode == 2 and "no submission from student 'zed'" in refused.stderr


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """A URL where no gradebook exists yet: a SQLite file, or a new database on the throwaway server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'book.sqlite'}"
    return on_server(request.getfixturevalue("pg"), f"empty_{tmp_path.name.lower().replace('-', '_')}")


def test_a_gradebook_made_by_the_initial_revision_is_upgraded_on_open_and_keeps_its_rows(empty_url):
    from alembic.script import ScriptDirectory
    from alembic.config import Config

    from grader.gradebook.store import MIGRATIONS, open_gradebook, upgrade

    engine = create_engine(empty_url.replace("postgresql://", "postgresql+psycopg://", 1))
    upgrade(engine, "0001")  # this term's gradebook, as the first release wrote it
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO runs (started_at, course_version, grader_version, options, status) "
                                "VALUES ('2026-01-01T00:00:00+00:00', 'abc', '0.1.0', '{}', 'finished')"))
    engine.dispose()
    book = open_gradebook(empty_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert sql(empty_url, "SELECT version_num FROM alembic_version") == [(head,)]
    assert [(run.course_version, run.status) for run in book.runs()] == [("abc", "finished")]
    book.close()


RECORDER = """
import sys
from grader.gradebook.store import open_gradebook
from grader.results import CheckResult, Status, SubmissionResult
book = open_gradebook(sys.argv[1])
run = book.start_run(course_version="v", grader_version="0", options={})
for number in range(40):
    result = SubmissionResult(path=f"{sys.argv[2]}{number}.ipynb", student=f"{sys.argv[2]}{number}", assignment="tiny",
                              checks=[CheckResult("answer", "tiny", 1.0, 1.0, Status.PASSED, "ok")])
    book.record(run, result, sha256="0" * 64, grading_key="k", part="tiny", reused=False)
book.finish_run(run, "finished")
"""


def test_two_runs_writing_at_once_both_land_whole(empty_url):
    from grader.gradebook.store import open_gradebook

    open_gradebook(empty_url).close()  # made (and migrated) before the writers race
    writers = [subprocess.Popen([sys.executable, "-c", RECORDER, empty_url, name], cwd=REPO, stderr=subprocess.PIPE,
                                text=True) for name in ("a", "b")]
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    assert sql(empty_url, "SELECT count(*) FROM submissions") == [(80,)]
    assert sql(empty_url, "SELECT count(*) FROM check_results") == [(80,)]
    assert sorted(sql(empty_url, "SELECT status FROM runs")) == [("finished",), ("finished",)]
    if empty_url.startswith("sqlite"):
        assert sql(empty_url, "PRAGMA integrity_check") == [("ok",)]
        assert sql(empty_url, "PRAGMA journal_mode") == [("wal",)]
