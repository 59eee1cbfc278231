"""`grader check --workers N`: the same results as one worker, stage timings, --profile, and a clean Ctrl-C."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import jsonschema
import psutil
import pytest

from conftest import REPO, run_grader
from grader.results import BatchResult
from grader.sandbox import FIRST_UID, UID_SLOTS

SCHEMA = json.loads((REPO / "tests" / "schemas" / "results.schema.json").read_text())
TIMINGS = ("created", "graded_at", "seconds", "execute_seconds", "stages")  # the fields a schedule may change


def make_class(course: Path, root: Path, students: dict[str, str | None]) -> Path:
    """A class folder: each student's tiny.ipynb copied from a fixture submission (None: a file that is not JSON)."""
    for student, fixture in students.items():
        (root / student).mkdir(parents=True)
        target = root / student / "tiny.ipynb"
        if fixture is None:
            target.write_text("{ not json")
        else:
            shutil.copy(course / "submissions" / f"{fixture}.ipynb", target)
    return root


def without_timings(value):
    """The document with every timing field dropped, at any depth."""
    if isinstance(value, dict):
        return {key: without_timings(item) for key, item in value.items() if key not in TIMINGS}
    if isinstance(value, list):
        return [without_timings(item) for item in value]
    return value


def reports_without_timestamps(out: Path) -> dict[str, str]:
    """Every HTML file under `out`, its grading timestamps blanked."""
    document = json.loads((out / "results.json").read_text())
    stamps = [document["created"], *(s["graded_at"] for s in document["submissions"])]
    pages = {}
    for page in sorted(out.rglob("*.html")):
        text = page.read_text()
        for stamp in stamps:
            text = text.replace(stamp, "TIME")
        pages[str(page.relative_to(out))] = text
    return pages


def test_two_workers_give_what_one_gives_in_the_same_order(fixture_course, tmp_path):
    submissions = make_class(fixture_course, tmp_path / "class", {
        "ada": "all_correct", "bo": "missing_function", "cy": "kernel_dies_midway", "di": None,
        "ed": "syntax_error_in_definition"})
    runs = {}
    for workers in ("1", "2"):
        out = tmp_path / f"out{workers}"
        runs[workers] = (run_grader("check", str(submissions), "--out", str(out), "--workers", workers, "--profile",
                                    "--no-gradebook"), out)  # each run grades (the gradebook would reuse the first's)
    (one, out1), (two, out2) = runs["1"], runs["2"]
    assert one.returncode == two.returncode == 3, two.stderr  # di's file is not a notebook
    assert one.stdout == two.stdout
    first, second = (json.loads((out / "results.json").read_text()) for out in (out1, out2))
    assert [s["student"] for s in second["submissions"]] == ["ada", "bo", "cy", "di", "ed"]
    assert without_timings(first) == without_timings(second)
    assert [s["score"] for s in second["submissions"]] == [6, 4, 4, 0, 4]
    assert reports_without_timestamps(out1) == reports_without_timestamps(out2)
    for document in (first, second):
        jsonschema.validate(document, SCHEMA)
    ada, di = second["submissions"][0], second["submissions"][3]
    assert list(ada["stages"]) == ["prepare", "sandbox", "start", "execute", "probe", "judge"]
    assert sum(ada["stages"][name] for name in ("start", "execute", "probe")) == pytest.approx(ada["execute_seconds"],
                                                                                              abs=0.01)
    assert sum(ada["stages"].values()) <= ada["seconds"]
    assert set(di["stages"]) == {"prepare"}  # it never reached a kernel
    for done in (one, two):  # plain progress lines (stderr is no terminal here), then where the time went
        assert "] ada/tiny: 6/6 (" in done.stderr and "] di/tiny: could not be graded: not a notebook" in done.stderr
        assert "where the time went" in done.stderr and "effective parallelism" in done.stderr


def test_results_without_stages_still_load(fixture_course):
    document = {"schema_version": 1, "grader_version": "0.1.0", "created": "2025-01-01T12:00:00+00:00",
                "sandboxed": True, "submissions": [{
                    "path": "a/tiny.ipynb", "student": "a", "assignment": "tiny", "score": 0, "max_score": 6,
                    "status": "error", "error": "not a notebook", "checks": [], "problems": []}]}
    jsonschema.validate(document, SCHEMA)
    batch = BatchResult.from_dict(document)
    assert batch.submissions[0].stages == {} and batch.not_graded == []
    assert "stages" in batch.to_dict()["submissions"][0] and "not_graded" not in batch.to_dict()


@pytest.mark.parametrize("args, message", [
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "--workers and --scheduler cannot be used together"),
    (["--workers", "0"], "--workers"),
])
def test_workers_usage_errors_exit_2(fixture_course, args, message):
    done = run_grader("check", str(fixture_course / "submissions" / "all_correct.ipynb"), *args)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandboxed", "no-sandbox"])
def test_ctrl_c_keeps_finished_results_and_leaves_no_kernel(fixture_course, tmp_path, sandbox):
    # ada and bo finish in seconds; cy's endless cell holds a worker; di and ed wait their turn behind it
    submissions = make_class(fixture_course, tmp_path / "class", {
        "ada": "all_correct", "cy": "infinite_loop_then_continues", "bo": "missing_function",
        "di": "kernel_dies_midway", "ed": "warnings_and_stderr"})
    out = tmp_path / "out"
    command = [sys.executable, "-m", "grader", "check", str(submissions), "--out", str(out), "--workers", "2",
               *([] if sandbox else ["--no-sandbox"])]
    grader = subprocess.Popen(command, cwd=REPO, env=os.environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen: dict[psutil.Process, tuple[str, int]] = {}  # every process the grader started → (command, uid) last seen
    lines: list[str] = []
    first_result = threading.Event()

    def read_stderr() -> None:
        for line in grader.stderr:
            lines.append(line)
            if line.startswith("[1/5]"):
                first_result.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    root = psutil.Process(grader.pid)
    while grader.poll() is None and not first_result.wait(0.05):
        _watch(root, seen)
    assert first_result.is_set(), "".join(lines)
    _watch(root, seen)
    grader.send_signal(signal.SIGINT)
    while grader.poll() is None:
        _watch(root, seen)
        time.sleep(0.05)
    reader.join()
    stderr = "".join(lines)
    assert grader.returncode == 130, stderr
    document = json.loads((out / "results.json").read_text())
    finished = [s["student"] for s in document["submissions"]]
    left = [Path(path).parent.name for path in document["not_graded"]]
    assert "cy" in left and finished and sorted(finished + left) == ["ada", "bo", "cy", "di", "ed"]
    assert finished == sorted(finished)  # in the order found, whatever order they finished in
    # each finished result is whole, as an uninterrupted run grades it: only di's kernel died (its own os._exit), in
    # its cell 4; nobody's cell was cut short by the interrupt (di finishes first on a loaded machine)
    assert all(s["status"] == "graded" for s in document["submissions"]), document
    assert {s["student"]: [(p["kind"], p["cell_index"]) for p in s["problems"]] for s in document["submissions"]} == {
        student: [("kernel_died", 3)] if student == "di" else [] for student in finished}, document
    assert f"grading was interrupted: {len(left)} of 5 submission(s) not graded" in stderr
    assert "Traceback" not in stderr
    kernels = [command for command, _ in seen.values() if "ipykernel" in command or "kernel_template" in command]
    assert kernels, "no kernel was seen running"  # started cold (ipykernel) or forked from a worker's template
    assert [command for p, (command, _) in seen.items() if p.is_running()] == []  # no kernel, sandbox or child left
    sandbox_uids = range(FIRST_UID, FIRST_UID + UID_SLOTS)
    assert any(uid in sandbox_uids for _, uid in seen.values()) == sandbox
    # nor anything else of this run, even a process that left the grader's tree: every kernel's environment names
    # this test session's data home (other graders, with uids of the same range, have their own)
    assert _holding(os.environ["TINY_HOME"]) == []


def _holding(home: str) -> list[str]:
    """Processes whose environment has TINY_HOME=`home`, as 'pid uid command': not this test process nor what it
    started itself (a Dask cluster's workers or multiprocessing's resource tracker, from other tests in it)."""
    ours = {os.getpid(), *(child.pid for child in psutil.Process().children(recursive=True))}
    found = []
    for process in psutil.process_iter(["pid", "uids", "cmdline", "environ"]):
        info = process.info
        if info["pid"] not in ours and (info["environ"] or {}).get("TINY_HOME") == home:
            found.append(f"{info['pid']} {info['uids'].real} {' '.join(info['cmdline'] or [])}")
    return found


def _watch(root: psutil.Process, seen: dict[psutil.Process, tuple[str, int]]) -> None:
    """Note the grader's descendants now, each with its command line and real uid (a sandbox drops to its own)."""
    try:
        descendants = root.children(recursive=True)
    except psutil.Error:
        return
    for process in descendants:
        try:
            seen[process] = (" ".join(process.cmdline()), process.uids().real)
        except psutil.Error:
            continue


def test_scheduler_grades_on_a_dask_cluster(fixture_course, tiny_home, tmp_path):
    distributed = pytest.importorskip("distributed")
    submissions = make_class(fixture_course, tmp_path / "class", {"ada": "all_correct", "bo": "missing_function"})
    env = {"TINY_HOME": str(tiny_home), "GRADER_CACHE": str(tmp_path / "cache")}
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  env=env) as cluster:
        done = run_grader("check", str(submissions), "--out", str(tmp_path / "out"), "--json",
                          "--scheduler", cluster.scheduler_address)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [(s["student"], s["score"]) for s in document["submissions"]] == [("ada", 6), ("bo", 4)]
    assert "] bo/tiny: 4/6 (" in done.stderr


def test_on_a_terminal_progress_is_live(fixture_course, tmp_path):
    import pty
    import re

    submissions = make_class(fixture_course, tmp_path / "class", {"ada": "all_correct", "bo": "missing_function"})
    leader, follower = pty.openpty()  # stderr a terminal, as when an instructor runs it
    grader = subprocess.Popen([sys.executable, "-m", "grader", "check", str(submissions), "--out",
                               str(tmp_path / "out"), "--format", "json", "--workers", "2"], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=follower,
                              env={**os.environ, "COLUMNS": "160", "TERM": "xterm"})
    os.close(follower)
    chunks = []
    while True:  # read as it is written, so that the terminal's buffer never fills
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the grader has exited and closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode(errors="replace"))
    assert grader.wait(timeout=60) == 0, screen
    assert re.search(r"0/2 graded, [12] running; slowest: (ada|bo)/tiny \(\d+s\)", screen), screen
    assert "] ada/tiny: 6/6 (" in screen and "] bo/tiny: 4/6 (" in screen
    assert "grading " not in screen  # the live line replaces the plain start lines


def test_default_workers_are_the_cores_the_memory_can_hold():
    from grader.pool import default_workers

    cores = len(os.sched_getaffinity(0))
    assert default_workers(1 << 20) == cores  # 1 MiB kernels: the cores limit
    assert default_workers(1 << 50) == 1  # a petabyte each: never fewer than one
