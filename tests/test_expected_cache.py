"""Reference values computed once (grader.expected_cache): a hit is the same value, bitwise; the course's code, its
data manifest and the seed each invalidate it; fills racing for one entry leave one readable file."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from grader import expected_cache
from grader.checks import Check, Equal, Value, write_manifest
from grader.comparison import Context
from grader.course import code_fingerprint, load_course
from grader.expected_cache import course_key, expected_value

REPO = Path(__file__).resolve().parents[1]

# In a fresh process: the fixture course's `total` check through the cache, and how often its reference ran.
TOTAL = """
import dataclasses, json, sys
from grader.comparison import Context
from grader.course import load_course
from grader.expected_cache import course_key, expected_value
course = load_course(sys.argv[1])
check = next(c for c in course.assignments["tiny"].checks if c.name == "total")
calls = []
counted = dataclasses.replace(check, expected=lambda ctx: calls.append(1) or check.expected(ctx))
ctx = Context(inputs={}, data_dir=course.data_dir, seed=0, reference_key=course_key(course))
print(json.dumps({"value": expected_value(counted, "tiny", ctx), "calls": len(calls)}))
"""


@pytest.fixture
def course(fixture_course, tiny_home, tmp_path, monkeypatch):
    """The fixture course with its own copy of the data home and an empty cache, as in a process just started."""
    home = tmp_path / "home"
    shutil.copytree(tiny_home, home)
    monkeypatch.setenv("TINY_HOME", str(home))
    monkeypatch.setenv("GRADER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(expected_cache, "_memory", {})
    monkeypatch.setattr(expected_cache, "_first_seen", {})
    return load_course(fixture_course)


def counting(value, calls: list):
    """A check without inputs whose reference returns `value()` and records the context it saw."""
    return Check("value", points=1, fetch=Value("value"), compare=Equal(),
                 expected=lambda ctx: calls.append(ctx) or value())


def context(course, seed: int = 0) -> Context:
    """The context judge_checks builds for a check without inputs."""
    return Context(inputs={}, data_dir=course.data_dir, notebook="the student's notebook", seed=seed,
                   reference_key=course_key(course))


def same_bits(a, b) -> bool:
    """Equal values, tensors bitwise (dtype, shape and bytes), floats including nan, containers by type."""
    if isinstance(a, torch.Tensor):
        return (isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape
                and a.contiguous().view(torch.uint8).equal(b.contiguous().view(torch.uint8)))
    if isinstance(a, float):
        return isinstance(b, float) and (a == b or math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same_bits, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_bits(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def rich_value():
    """Tensors of several dtypes (one a view), odd floats, nested containers."""
    base = torch.randn(5, 7, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    return {"floats": base.float(), "view": base[1:3, ::2], "ints": torch.arange(6).reshape(2, 3),
            "mask": base > 0, "nan": float("nan"), "third": 1 / 3, "pair": (1, "one"), "nested": [[None, True]]}


def test_a_hit_returns_the_same_value_bitwise_without_running_the_reference(course, monkeypatch):
    calls, computed = [], []
    check = counting(lambda: computed.append(rich_value()) or computed[-1], calls)
    first = expected_value(check, "part", context(course))
    again = expected_value(check, "part", context(course))
    monkeypatch.setattr(expected_cache, "_memory", {})  # a new process: only the disk remains
    from_disk = expected_value(check, "part", context(course))
    assert len(calls) == 1
    assert same_bits(computed[0], first) and same_bits(first, again) and same_bits(first, from_disk)
    assert calls[0].notebook is None and calls[0].inputs == {}  # the reference never sees the student's work
    assert [path.suffix for path in (Path(os.environ["GRADER_CACHE"]) / "expected").iterdir()] == [".safetensors"]


def test_the_seed_the_data_manifest_and_the_course_code_each_invalidate(course, monkeypatch):
    calls = []
    check = counting(lambda: torch.ones(2), calls)
    expected_value(check, "part", context(course))
    expected_value(check, "part", context(course, seed=1))
    assert len(calls) == 2
    expected_value(check, "part", context(course))
    assert len(calls) == 2
    (course.data_dir / "numbers" / "values.txt").write_text("1\n2\n")
    write_manifest(course.data_dir, ["numbers"], hashed=["numbers"])
    expected_value(check, "part", context(course))
    assert len(calls) == 3
    before = code_fingerprint(course)
    with open(course.root / "tinyref" / "solution.py", "a") as source:
        source.write("\n# edited\n")
    assert code_fingerprint(course) != before
    assert course_key(course) is None  # this process may run the old code: nothing is cached from now on
    expected_value(check, "part", context(course))
    expected_value(check, "part", context(course))
    assert len(calls) == 5


def test_a_new_process_reuses_the_disk_and_recomputes_after_the_reference_code_changes(course):
    def total() -> dict:
        done = subprocess.run([sys.executable, "-c", TOTAL, str(course.root)], capture_output=True, text=True,
                              cwd=REPO, env=os.environ, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert total() == {"value": 31.0, "calls": 1}
    assert total() == {"value": 31.0, "calls": 0}
    solution = course.root / "tinyref" / "solution.py"
    solution.write_text(solution.read_text().replace("return float(sum(", "return 2 * float(sum("))
    assert total() == {"value": 62.0, "calls": 1}


def test_checks_with_inputs_values_that_are_not_plain_data_and_contexts_without_a_key_are_computed_each_time(course):
    calls = []
    with_inputs = Check("drawn", points=1, fetch=Value("drawn"), compare=Equal(), inputs=lambda gen: {"x": 1},
                        expected=lambda ctx: calls.append(ctx) or ctx.inputs["x"])
    opaque = counting(object, calls)
    clashing = counting(lambda: {"a.b": torch.zeros(1), "a": {"b": torch.ones(1)}}, calls)  # both tensors named v.a.b
    plain = counting(lambda: 1.5, calls)
    for _ in range(2):
        assert expected_value(with_inputs, "part", Context(inputs={"x": 7}, data_dir=course.data_dir,
                                                           reference_key=course_key(course))) == 7
        assert type(expected_value(opaque, "part", context(course))) is object
        assert expected_value(clashing, "part", context(course))["a.b"].item() == 0
        assert expected_value(plain, "part", Context(inputs={}, data_dir=course.data_dir)) == 1.5
    assert len(calls) == 8


def test_a_tensor_subclass_comes_back_as_a_plain_tensor_from_memory_and_from_disk(course, monkeypatch):
    class Marked(torch.Tensor):
        pass

    calls = []
    check = counting(lambda: torch.arange(3.0).as_subclass(Marked), calls)
    first = expected_value(check, "part", context(course))
    monkeypatch.setattr(expected_cache, "_memory", {})
    again = expected_value(check, "part", context(course))
    assert type(first) is torch.Tensor and type(again) is torch.Tensor and same_bits(first, again) and len(calls) == 1


def test_fills_racing_for_one_entry_leave_one_readable_file(course, monkeypatch):
    calls, results = [], []
    check = counting(lambda: torch.arange(100_000.0), calls)
    barrier = threading.Barrier(6)

    def fill():
        barrier.wait()
        results.append(expected_value(check, "part", context(course)))

    threads = [threading.Thread(target=fill) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and all(same_bits(results[0], result) for result in results)
    written = list((Path(os.environ["GRADER_CACHE"]) / "expected").iterdir())
    assert len(written) == 1 and written[0].suffix == ".safetensors"  # no temporary file left behind
    monkeypatch.setattr(expected_cache, "_memory", {})
    count = len(calls)
    assert same_bits(expected_value(check, "part", context(course)), results[0]) and len(calls) == count


def test_the_chapter_fingerprint_covers_its_reference_and_checks_not_its_docs(tmp_path):
    for name in ("course.toml", "README.md"):
        shutil.copy(REPO / name, tmp_path / name)
    for name in ("reference", "assignments"):
        shutil.copytree(REPO / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    course = load_course(tmp_path)
    before = code_fingerprint(course)
    (tmp_path / "README.md").write_text("changed")
    assert code_fingerprint(course) == before
    for path in (tmp_path / "reference" / "full_mnist.py", tmp_path / "assignments" / "baseline" / "checks.py",
                 tmp_path / "course.toml"):
        with open(path, "a") as source:
            source.write("\n# edited\n")
        assert code_fingerprint(course) != before
        before = code_fingerprint(course)
