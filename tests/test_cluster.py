"""Grading on a Dask cluster (grader.cluster): workers grade as `grade()` does; failures stay per submission."""
from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time

import pytest

distributed = pytest.importorskip("distributed")

from grader.cluster import CONNECT_TIMEOUT, ClusterError, grade_on_cluster, pack_course  # noqa: E402
from grader.course import load_course  # noqa: E402
from grader.discover import find_submissions, known_names  # noqa: E402
from grader.pipeline import Options, grade  # noqa: E402

from conftest import run_grader  # noqa: E402

# fixture submissions whose results do not depend on the inputs drawn afresh for every run (no failed tensor check)
SAME_EVERY_RUN = ("all_correct", "cell_raises_then_continues", "missing_function", "kernel_dies_midway")


def local_cluster(**env: str) -> distributed.LocalCluster:
    """Two worker processes on this machine (one thread each) with this environment."""
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", env=env)


def files_of(course, *paths):
    """The submissions `grade()` would find under `paths`."""
    return find_submissions(list(paths), known_names=known_names(course.assignments))


def grade_there(address, course, files, **callbacks):
    """grade_on_cluster with the default options (and no callbacks unless given)."""
    return grade_on_cluster(address, files, options=Options(course=course), assignments=course.assignments,
                            on_start=callbacks.get("on_start"), on_result=callbacks.get("on_result"))


def without_timings(result) -> dict:
    """A result's dict form without its times (how long it took and each stage, when it was graded)."""
    data = result.to_dict()
    for key in ("seconds", "execute_seconds", "stages", "graded_at"):
        data.pop(key, None)
    data["checks"] = [{k: v for k, v in check.items() if k != "seconds"} for check in data["checks"]]
    return data


def test_a_cluster_grades_as_locally(fixture_course, tiny_home, tmp_path):
    course = load_course(fixture_course)
    paths = [fixture_course / "submissions" / f"{name}.ipynb" for name in SAME_EVERY_RUN]
    paths.append(tmp_path / "gone" / "tiny.ipynb")  # not there: graded here, as locally
    files = files_of(course, *paths)
    local = grade(paths, course=course).submissions
    started, returned = [], []
    cache = tmp_path / "worker-cache"
    with local_cluster(TINY_HOME=str(tiny_home), GRADER_CACHE=str(cache)) as cluster:
        remote = grade_there(cluster.scheduler_address, course, files,
                             on_start=lambda *args: started.append(args),
                             on_result=lambda number, total, result: returned.append((number, total, result)))
    assert [without_timings(r) for r in remote] == [without_timings(r) for r in local]
    assert [(r.student, r.score, r.status) for r in remote][:3] == [
        ("all_correct", 6, "graded"), ("cell_raises_then_continues", 6, "graded"), ("missing_function", 4, "graded")]
    assert started == [(number, 5, file) for number, file in enumerate(files, 1)]
    assert sorted((number, total) for number, total, _ in returned) == [(number, 5) for number in range(1, 6)]
    assert all(remote[number - 1] is result for number, _, result in returned)
    unpacked = cache / "cluster-courses" / hashlib.sha256(pack_course(course)).hexdigest()
    assert (unpacked / "course.toml").is_file()  # the course travelled and was unpacked where the workers cache


def test_grader_check_with_a_scheduler_writes_the_results_and_exit_code_as_locally(fixture_course, tiny_home,
                                                                                  tmp_path):
    out = tmp_path / "out"
    with local_cluster(TINY_HOME=str(tiny_home), GRADER_CACHE=str(tmp_path / "cache")) as cluster:
        done = run_grader("check", str(fixture_course / "submissions" / "all_correct.ipynb"),
                          str(tmp_path / "gone" / "tiny.ipynb"), "--scheduler", cluster.scheduler_address,
                          "--out", str(out))
    assert done.returncode == 3, done.stderr  # one submission could not be graded
    correct, gone = json.loads((out / "results.json").read_text())["submissions"]
    assert (correct["student"], correct["score"], correct["status"]) == ("all_correct", 6, "graded")
    assert gone["error"].startswith("notebook not found") and (gone["score"], gone["max_score"]) == (0, 6)
    assert (out / "index.html").is_file() and list((out / "reports").glob("*.html"))


def test_the_options_reach_the_workers(fixture_course, tiny_home, tmp_path):
    course = load_course(fixture_course)
    paths = [fixture_course / "submissions" / "all_correct.ipynb"]
    chosen = {"seed": 5, "cell_timeout": 30.0, "notebook_timeout": 120.0, "sandbox": False}
    local = grade(paths, course=course, **chosen).submissions
    with local_cluster(TINY_HOME=str(tiny_home), GRADER_CACHE=str(tmp_path / "cache")) as cluster:
        remote = grade_on_cluster(cluster.scheduler_address, files_of(course, *paths), assignments=course.assignments,
                                  options=Options(course=course, **chosen), on_start=None, on_result=None)
    assert [without_timings(r) for r in remote] == [without_timings(r) for r in local]
    assert remote[0].sandboxed is False and remote[0].score == 6  # graded unconfined, as asked


def test_a_changed_course_replaces_the_old_one_on_the_same_workers(fixture_course, tiny_home, tmp_path):
    files = files_of(load_course(fixture_course), fixture_course / "submissions" / "all_correct.ipynb")
    cache = tmp_path / "worker-cache"
    with local_cluster(TINY_HOME=str(tiny_home), GRADER_CACHE=str(cache)) as cluster:
        [before] = grade_there(cluster.scheduler_address, load_course(fixture_course), files)
        solution = fixture_course / "tinyref" / "solution.py"  # the reference's total is now one more
        solution.write_text(solution.read_text().replace("return float(sum(", "return 1 + float(sum("))
        [after] = grade_there(cluster.scheduler_address, load_course(fixture_course), files)
    assert (before.score, after.score) == (6, 5)
    assert [check.name for check in after.checks if check.status != "passed"] == ["total"]
    assert len(list((cache / "cluster-courses").iterdir())) == 2  # one folder per content


def test_the_course_travels_without_submissions_caches_or_the_engine(fixture_course):
    (fixture_course / "tinyref" / "__pycache__").mkdir(exist_ok=True)
    (fixture_course / "tinyref" / "__pycache__" / "solution.cpython-311.pyc").write_bytes(b"stale")
    course = load_course(fixture_course)
    archive = pack_course(course)
    names = tarfile.open(fileobj=io.BytesIO(archive)).getnames()
    assert {"course.toml", "assignments/tiny/checks.py", "assignments/tiny/tiny.ipynb", "tinyref/data.py"} <= set(names)
    assert not [n for n in names if n.startswith(("submissions/", "solutions/")) or "__pycache__" in n]
    assert pack_course(course) == archive  # the same files, the same bytes: one cache folder per content
    (fixture_course / "tinyref" / "solution.py").write_text("# changed\n")
    assert pack_course(course) != archive


def test_a_connected_worker_without_the_course_data_stops_the_batch_before_it_starts(fixture_course, tmp_path):
    course = load_course(fixture_course)
    files = files_of(course, fixture_course / "submissions" / "all_correct.ipynb")
    started = []
    with local_cluster(TINY_HOME=str(tmp_path / "no-data"), GRADER_CACHE=str(tmp_path / "cache")) as cluster:
        with pytest.raises(ClusterError) as raised:
            grade_there(cluster.scheduler_address, course, files, on_start=lambda *args: started.append(args))
    message = str(raised.value)
    assert message.startswith("2 of 2 Dask workers cannot grade for this course") and not started
    assert message.count("cannot grade: its data home") == 2
    assert "no-data does not exist: run `grader data` there" in message


def test_a_worker_that_joins_later_without_the_data_makes_its_submissions_ungradable_with_the_reason(
        fixture_course, tmp_path):
    course = load_course(fixture_course)
    files = files_of(course, fixture_course / "submissions" / "all_correct.ipynb",
                     fixture_course / "submissions" / "missing_function.ipynb")
    with distributed.LocalCluster(n_workers=0, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  env={"TINY_HOME": str(tmp_path / "no-data"),
                                       "GRADER_CACHE": str(tmp_path / "cache")}) as cluster:
        results = grade_there(cluster.scheduler_address, course, files,  # no worker to check when the batch starts
                              on_start=lambda number, *_: number == 1 and cluster.scale(1))
    for result in results:
        assert result.status == "error" and result.error.startswith("the Dask worker on ")
        assert "cannot grade: its data home" in result.error and "run `grader data` there" in result.error
        assert (result.assignment, result.score, result.max_score) == ("tiny", 0, 6)  # its part, from its metadata


def test_a_worker_that_dies_while_grading_costs_only_its_submission(fixture_course, tiny_home, tmp_path):
    import dask

    course = load_course(fixture_course)
    files = files_of(course, fixture_course / "submissions" / "infinite_loop_then_continues.ipynb",
                     fixture_course / "submissions" / "all_correct.ipynb")
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            local_cluster(TINY_HOME=str(tiny_home), GRADER_CACHE=str(tmp_path / "cache")) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        def kill_the_busy_worker(number, total, result):
            if number == 2:  # all_correct is back; the other worker is still in the notebook's minute-long loop
                [busy] = [worker for worker, keys in client.processing().items() if keys]
                os.kill(client.run(os.getpid)[busy], signal.SIGKILL)

        looping, correct = grade_there(cluster.scheduler_address, course, files, on_result=kill_the_busy_worker)
    assert looping.status == "error" and looping.error.startswith("the Dask worker grading it died")
    assert (looping.path, looping.student, looping.assignment, looping.max_score) == (
        str(files[0].path), "infinite_loop_then_continues", "tiny", 6)
    assert (correct.status, correct.score) == ("graded", 6)


def test_an_unreachable_scheduler_is_a_clear_error_within_the_timeout(fixture_course):
    course = load_course(fixture_course)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nothing listens there
    started = time.monotonic()
    with pytest.raises(ClusterError, match=rf"cannot reach the Dask scheduler at tcp://127.0.0.1:{port} within"):
        grade_there(f"tcp://127.0.0.1:{port}", course, files_of(course, fixture_course / "submissions"))
    assert time.monotonic() - started < CONNECT_TIMEOUT + 15


def test_without_distributed_the_error_says_how_to_install_it():
    code = ("import sys; sys.modules['distributed'] = None\n"
            "from grader.cluster import ClusterError, grade_on_cluster\n"
            "try:\n    grade_on_cluster('tcp://127.0.0.1:8786', [], options=None, assignments={},\n"
            "                     on_start=None, on_result=None)\n"
            "except ClusterError as error:\n    print(error)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "pip install 'grader[cluster]'" in done.stdout
