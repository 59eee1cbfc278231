"""The disk cache of reference figures: computed once, even when several graders want the same entry at once."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grader.cache import cached_json

REPO = Path(__file__).resolve().parents[1]
# a grader that needs an expensive figure: it notes each computation in a log, takes a while, prints the value
WANTS_FIGURE = '''
import sys, time
from grader.cache import cached_json

def compute():
    with open(sys.argv[1], "a") as log:
        log.write("computed\\n")
    time.sleep(1.5)
    return {"accuracy": 0.97, "runs": [1, 2]}

print(cached_json("figure", {"seeds": 3}, compute))
'''


def test_graders_that_want_one_figure_at_once_compute_it_once(tmp_path):
    log = tmp_path / "computations.log"
    env = {**os.environ, "GRADER_CACHE": str(tmp_path / "cache"), "PYTHONPATH": str(REPO)}
    graders = [subprocess.Popen([sys.executable, "-c", WANTS_FIGURE, str(log)], stdout=subprocess.PIPE, text=True,
                                env=env) for _ in range(3)]
    printed = [grader.communicate(timeout=120)[0].strip() for grader in graders]
    assert [grader.returncode for grader in graders] == [0, 0, 0]
    assert printed == ["{'accuracy': 0.97, 'runs': [1, 2]}"] * 3
    assert log.read_text() == "computed\n"


def test_a_failed_computation_leaves_no_entry_and_the_next_call_computes(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_CACHE", str(tmp_path))
    calls = []

    def failing():
        calls.append("failed")
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        cached_json("figure", {"seed": 0}, failing)
    assert not list(tmp_path.glob("figure-*.json"))
    assert cached_json("figure", {"seed": 0}, lambda: calls.append("computed") or None) is None
    assert cached_json("figure", {"seed": 0}, lambda: calls.append("again") or 1) is None  # None is a value, kept
    assert calls == ["failed", "computed"]
