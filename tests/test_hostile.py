"""The hostile corpus (tests/corpus/hostile) graded in one sealed batch with the honest example class.

Every attack is contained: the batch finishes, honest students score exactly as they do alone, each
attacker earns nothing and its report says what stopped it, no file outside the jails changes, no
secret leaks into any output, and no process of a sandbox uid is left afterwards.
"""
from __future__ import annotations

import fcntl
import hashlib
import re
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, run_grader
from grader.results import BatchResult
from grader.sandbox import FIRST_UID, UID_SLOTS, processes_of, unavailable_reason

HOSTILE = Path(__file__).parent / "corpus" / "hostile"
SECRETS = {"GITHUB_TOKEN": "ghp_hostile_test_token_0123456789", "GRADER_TEST_SECRET": "s3cr3t-hostile-value"}
# What the report of each attack says stopped it (a fragment of the last cell's error).
STOPPED_BY = {
    "signal_parent_and_every_process": ("Operation not permitted", "No such process"),  # init ignores it either way
    # the folders holding the checkout's bound venv: root's in a cold kernel's jail, a read-only mount in a forked one
    "proc_walk_rewrites_other_submissions": ("Permission denied", "Read-only file system"),
    "writes_into_the_data_folder": "Read-only file system",
    "imports_the_reference_solutions": "No module named 'reference'",
    "background_thread_forges_probe_answers": "",
    "child_process_forges_probe_answers": "",
    "fork_bomb": "Resource temporarily unavailable",
    "memory_bomb": "stopped by the sandbox: the notebook's processes used more than 4.0 GiB of memory",
    "opens_a_network_connection": "Network is unreachable",
    "reads_secrets_from_the_environment": "no secrets visible",
    "fills_the_disk": "No space left on device",
    "leaves_processes_running": "",
}
SKIPPED_FOLDERS = {".git", ".venv", "__pycache__", ".pytest_cache", "test-artifacts", "grader-results"}

pytestmark = pytest.mark.skipif(unavailable_reason() is not None, reason=f"no sandbox: {unavailable_reason()}")


def tree_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under `root` (build and cache folders left out), by relative path."""
    hashes = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in SKIPPED_FOLDERS and not d.endswith(".egg-info")]
        for name in files:
            path = Path(folder) / name
            hashes[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def sandbox_processes() -> list[int]:
    """Every process of a sandbox uid that no running grader holds, on this machine.

    A grader reserves a uid with a lock on its file in grader-sandbox-uids (sandbox.UidSlot); the kernels of
    graders still at work (other tests of this run, in another xdist worker) run under uids locked that way.
    Each free uid is held locked while its processes are listed, so no grader can take it meanwhile.
    """
    folder = Path(tempfile.gettempdir()) / "grader-sandbox-uids"
    left = []
    for uid in range(FIRST_UID, FIRST_UID + UID_SLOTS):
        if not (folder / str(uid)).exists():
            left += processes_of(uid)
            continue
        with open(folder / str(uid), "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # in use by a grader at work
            left += processes_of(uid)
    return left


@pytest.fixture(scope="module")
def attacked(tmp_path_factory, fastai_home):
    """One batch: a copy of the example class and the hostile corpus; hashes of everything before and after."""
    work = tmp_path_factory.mktemp("hostile")
    shutil.copytree(REPO / "examples" / "submissions", work / "class")
    shutil.copytree(HOSTILE, work / "hostile")
    watched = {"checkout": REPO, "submissions": work, "data": fastai_home}
    before = {name: tree_hashes(root) for name, root in watched.items()}
    out = tmp_path_factory.mktemp("hostile-results")
    done = run_grader("check", str(work / "class"), str(work / "hostile"), "--out", str(out),
                      "--format", "table", "--format", "json", "--format", "html", "--format", "junit",
                      "--gradebook", str(out / "gradebook.sqlite"),  # recorded as in a course, outside the checkout
                      env={**SECRETS, "FASTAI_HOME": str(fastai_home), "GRADER_NO_GRADEBOOK": "0"})
    after = {name: tree_hashes(root) for name, root in watched.items()}
    return done, BatchResult.read_json(out / "results.json"), before, after, out, sandbox_processes()


def test_the_batch_completes_with_every_submission_graded(attacked):
    done, batch, *_ = attacked
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(batch.submissions) == 8 + len(STOPPED_BY) and not batch.failed_to_grade
    assert batch.sandboxed and all(s.sandboxed for s in batch.submissions)
    assert "Task exception was never retrieved" not in done.stderr
    *_, out, _ = attacked
    with sqlite3.connect(out / "gradebook.sqlite") as book:  # every attacker recorded, each with the score it got
        recorded = dict(book.execute("SELECT student || '/' || part, score FROM submissions").fetchall())
    assert recorded == {f"{s.student}/{s.assignment}": s.score for s in batch.submissions}


def test_honest_students_score_exactly_as_without_the_attackers(attacked, example_class):
    _, batch, *_ = attacked
    _, alone = example_class

    def marks(b: BatchResult) -> dict:  # numbers in messages come from inputs drawn fresh for every run
        return {(s.student, s.assignment): [(c.name, c.status, c.score, re.sub(r"[\d.e+-]+", "#", c.message))
                                            for c in s.checks] for s in b.submissions}

    honest = {key: value for key, value in marks(batch).items() if key[0] not in STOPPED_BY}
    assert honest == marks(alone)


@pytest.mark.parametrize("attack", sorted(STOPPED_BY))
def test_each_attacker_earns_nothing_and_its_report_says_what_stopped_it(attacked, attack):
    _, batch, *_ = attacked
    [submission] = [s for s in batch.submissions if s.student == attack]
    assert submission.error is None and submission.score == 0 and submission.max_score == 8
    attack_cell = len(submission.problems) and max(p.cell_index for p in submission.problems)
    expected = STOPPED_BY[attack] if isinstance(STOPPED_BY[attack], tuple) else (STOPPED_BY[attack],)
    if any(expected):
        last = [f"{p.ename}: {p.evalue}" for p in submission.problems if p.cell_index == attack_cell]
        assert any(fragment in line for fragment in expected for line in last), submission.problems


def test_no_file_outside_the_jails_changed(attacked):
    _, _, before, after, *_ = attacked
    for name in before:
        assert after[name] == before[name], f"files changed in the {name}"


def test_no_secret_of_the_grader_reaches_any_output(attacked):
    *_, out, _ = attacked
    for path in out.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not any(secret in text for secret in SECRETS.values()), path
    reader = next(s for s in attacked[1].submissions if s.student == "reads_secrets_from_the_environment")
    assert reader.problems[-1].ename == "AssertionError"


def test_no_process_of_any_sandbox_is_left(attacked):
    *_, left = attacked
    assert left == [] and sandbox_processes() == []


def test_forged_probe_answers_are_not_taken(attacked):
    _, batch, *_ = attacked
    for attack in ("background_thread_forges_probe_answers", "child_process_forges_probe_answers"):
        submission = next(s for s in batch.submissions if s.student == attack)
        mse = next(c for c in submission.checks if c.name == "mse")
        assert mse.score == 0 and "1.0" not in mse.message
