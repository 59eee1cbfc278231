"""Engine pieces without a kernel: comparisons, safe probe reading, discovery, name binding, the self-check."""
from __future__ import annotations

import io
import os
import pickle
from pathlib import Path

import pytest
import torch

from grader import probe_runtime
from grader.checks import (Accuracy, Assignment, Check, Comparison, Context, Each, LossDecreasing, Opaque, Outcome,
                           Scalar, Tensor, Value, comparison)
from grader.course import load_course
from grader.discover import find_submissions, identify
from grader.exceptions import UnknownAssignment
from grader.causes import binds
from grader.probe import read_record
from conftest import REPO

CTX = Context(inputs={}, data_dir=Path("."))


def test_tensor_comparison_reports_shape_and_error_figures():
    expected = torch.arange(6.0).reshape(2, 3)
    assert Tensor().judge(expected.clone(), expected, CTX).fraction == 1
    wrong_shape = Tensor().judge(torch.zeros(3, 2), expected, CTX)
    assert wrong_shape.fraction == 0 and "shape (3, 2) but expected (2, 3)" in wrong_shape.message
    off = expected.clone()
    off[0, 0] += 1
    outcome = Tensor(partial=True).judge(off, expected, CTX)
    assert outcome.fraction == pytest.approx(5 / 6)
    assert outcome.diagnostics["max_abs_error"] == pytest.approx(1)
    assert outcome.diagnostics["mismatched_fraction"] == pytest.approx(1 / 6)
    assert Tensor().judge(Opaque("Sequential"), expected, CTX).message.startswith("expected a torch.float32")


def test_scalar_accuracy_loss_and_each():
    assert Scalar(atol=1e-3).judge(torch.tensor(0.5004), 0.5, CTX).fraction == 1
    assert Scalar().judge("0.5", 0.5, CTX).fraction == 0
    stats = {"mean": 0.97, "std": 0.001}
    assert Accuracy(min_std=0.005).judge(0.96, stats, CTX).fraction == 1
    assert 0 < Accuracy(min_std=0.005).judge(0.8, stats, CTX).fraction < 1
    assert Accuracy().judge(97.0, stats, CTX).fraction == 0
    assert LossDecreasing().judge([3.0, 2.0, 1.0], None, CTX).fraction == 1
    assert LossDecreasing().judge([1.0, 2.0, 3.0], None, CTX).fraction == 0
    assert Each(Scalar()).judge([1.0, 5.0], [1.0, 2.0], CTX).fraction == 0.5


def test_custom_comparison_kinds_register_by_name():
    class Shouty(Comparison, kind="test_shouty"):
        def judge(self, student, expected, ctx):
            return Outcome(float(student == expected.upper()), "checked")

    assert comparison("test_shouty").judge("HI", "hi", CTX).fraction == 1


def saved(tensors) -> bytes:
    """What `torch.save` writes for `tensors`, as the probe server sends it."""
    buffer = io.BytesIO()
    torch.save(tensors, buffer)
    return buffer.getvalue()


def test_probe_records_round_trip_plain_values():
    record, tensors = probe_runtime.probe({"x": torch.ones(2, requires_grad=True) * 3, "n": 4},
                                          {"needs": ["x"], "code": "result = [ns['x'], ns['n'], {'k': 'v'}, len]"}, {})
    header, payload = probe_runtime.unpack_frame(probe_runtime.pack_frame(record, saved(tensors)))
    value = read_record(header, payload).value
    assert torch.equal(value[0], torch.full((2,), 3.0)) and value[1:3] == [4, {"k": "v"}]
    assert value[3] == Opaque("builtin_function_or_method")


class Exploit:
    """Pickles into a call of os.system, as a hostile kernel might send."""

    def __reduce__(self):
        return os.system, ("touch exploited",)


def test_probe_answers_are_read_without_running_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    record = {"value": {"kind": "tensor", "key": "t0"}}
    assert read_record(record, pickle.dumps({"t0": Exploit()})) is None
    assert read_record(record, saved({"t0": Exploit()})) is None
    assert not (tmp_path / "exploited").exists()
    assert read_record("not a record", b"") is None
    with pytest.raises(ValueError):
        probe_runtime.unpack_frame(b"\x00\x00\x00\x10{}")


def test_submission_layouts_name_students(tmp_path):
    for relative in ("alice/baseline.ipynb", "bob.ipynb", "carol/sub/linear.ipynb", ".hidden/x.ipynb",
                     "dave/.ipynb_checkpoints/baseline-checkpoint.ipynb"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("{}")
    found = {(f.path.relative_to(tmp_path).as_posix(), f.student) for f in find_submissions([tmp_path])}
    assert found == {("alice/baseline.ipynb", "alice"), ("bob.ipynb", "bob"), ("carol/sub/linear.ipynb", "carol")}
    [single] = find_submissions([tmp_path / "alice" / "baseline.ipynb"], known_names={"baseline"})
    assert single.student == "alice"


def test_assignment_from_metadata_then_file_name():
    assignments = load_course(REPO).assignments
    assert identify("sgd", "whatever", assignments)[0] == "sgd"
    assert identify(None, "alice_linear", assignments)[0] == "linear"
    name, parts = identify(None, "04_mnist_basics", assignments)
    assert name == "04_mnist_basics" and {p.name for p in parts} == {"baseline", "sgd", "linear", "learner"}
    with pytest.raises(UnknownAssignment):
        identify(None, "homework", assignments)
    with pytest.raises(UnknownAssignment):
        identify("chapter99", "baseline", assignments)


def test_a_renamed_notebook_is_known_by_the_part_its_name_contains():
    assignments = load_course(REPO).assignments
    for stem in ("Copy of baseline (1)", "baseline2", "alice-baseline-final", "BASELINE copy"):
        assert identify(None, stem, assignments)[0] == "baseline", stem
    name, parts = identify(None, "Copy of 04_mnist_basics", assignments)
    assert name == "04_mnist_basics" and len(parts) == 4
    assert identify(None, "full_mnist (2)", assignments)[0] == "full_mnist"
    for stem, message in [("my_work", "name the file after its part"), ("baselines", "baseline.ipynb"),
                          ("sgd then linear", "it names linear and sgd")]:
        with pytest.raises(UnknownAssignment, match=message):
            identify(None, stem, assignments)


def test_cells_without_ids_get_unique_ones_and_no_library_warning(tmp_path):
    import json
    import warnings

    from grader.pipeline import load_notebook, with_cell_ids

    cell = {"cell_type": "code", "source": ["x = 1\n", "y = 2"], "metadata": {}, "outputs": [], "execution_count": None}
    document = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        dict(cell), dict(cell, id="cell-1"), dict(cell, id="cell-1"), dict(cell, id="mine")]}
    assert [c["id"] for c in with_cell_ids(json.loads(json.dumps(document)))["cells"]] == [
        "cell-0", "cell-1", "cell-2", "mine"]
    older = with_cell_ids({"nbformat": 4, "nbformat_minor": 4, "metadata": {}, "cells": [dict(cell)]})
    assert older["nbformat_minor"] == 5 and older["cells"][0]["id"] == "cell-0"  # run in a 4.5 notebook, ids wanted
    (tmp_path / "nb.ipynb").write_text(json.dumps(document))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        notebook = load_notebook(tmp_path / "nb.ipynb")
    assert notebook.cells[0].source == "x = 1\ny = 2" and len({c.id for c in notebook.cells}) == 4


def test_binds_finds_definitions_even_in_broken_cells():
    assert binds("def f(x): return x", "f") and binds("a, b = 1, 2", "b") and binds("import torch", "torch")
    assert binds("for i in range(3): pass", "i") and not binds("print(f)", "f")
    assert binds("def f(x)\n    return x", "f") and not binds("from fastbook import *", "plot_function")


def test_assignment_rejects_duplicate_check_names():
    check = Check("a", points=1, fetch=Value("a"), compare=Scalar())
    with pytest.raises(ValueError, match="twice"):
        Assignment(name="p", title="t", checks=(check, check))


def test_self_check_previews_visible_checks_against_a_namespace(fixture_course, capsys):
    from grader import check

    namespace = {"double": lambda x: x * 3, "answer": 42, "os": os}
    check("tiny", namespace=namespace)
    printed = capsys.readouterr().out
    assert "PREVIEW ONLY" in printed and "not your grade" in printed
    assert "✗ double (0/2)" in printed and "✓ answer (1/1)" in printed
    assert "`seeded` is not defined yet" in printed
    assert "later" not in printed  # hidden checks stay out of the preview


def test_the_command_line_starts_without_importing_torch():
    """`grader --help` and a course's light commands load no torch: grader.checks loads comparisons on first use."""
    import subprocess
    import sys

    code = ("import sys, grader.cli; from grader.checks import GraderError, rich_progress, Check; "
            "cli_light = 'torch' not in sys.modules; from grader.checks import Tensor; "
            "print(cli_light, 'torch' in sys.modules, Tensor.__module__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert done.stdout.split() == ["True", "True", "grader.compare"]
    with pytest.raises(AttributeError, match="no attribute 'Tensr'"):
        import grader.checks
        grader.checks.Tensr
