"""Sandbox policy through the real command: refusal without bubblewrap, --no-sandbox marked everywhere,
the data manifest guarding what grading trusts, and sizes on the command line.

Engine behaviour runs on the fixture course (tests/fixtures/course); the chapter's own data check on MNIST."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO, run_grader
from grader.exceptions import GraderError
from grader.manifest import MANIFEST_NAME, verify_manifest, write_manifest
from grader.sandbox import GiB, MiB, parse_size

BLANK_SGD = REPO / "assignments" / "sgd" / "sgd.ipynb"


def submission(course: Path) -> str:
    """The fixture course's submission that earns every point."""
    return str(course / "submissions" / "all_correct.ipynb")


def test_without_bubblewrap_grading_refuses_and_says_how_to_install_it(tmp_path, fixture_course):
    done = run_grader("check", submission(fixture_course), "--out", str(tmp_path / "out"),
                      env={"PATH": str(tmp_path)})  # no bwrap on this PATH
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert "cannot grade untrusted notebooks without a sandbox" in message
    assert "apt-get install bubblewrap" in message and "--no-sandbox" in message
    assert not (tmp_path / "out" / "results.json").exists()


def test_no_sandbox_grades_and_every_output_says_so(tmp_path, fixture_course):
    out = tmp_path / "out"
    done = run_grader("check", submission(fixture_course), "--out", str(out), "--no-sandbox")
    assert done.returncode == 0, done.stderr
    assert "--no-sandbox: notebooks ran unconfined" in " ".join(done.stderr.split())
    document = json.loads((out / "results.json").read_text())
    assert document["sandboxed"] is False and document["submissions"][0]["sandboxed"] is False
    assert document["submissions"][0]["score"] == document["submissions"][0]["max_score"] == 6
    for page in [out / "index.html", *out.glob("reports/*.html")]:
        assert "ran unconfined" in page.read_text(), page


def test_a_sealed_run_says_it_was_sealed(tmp_path, fixture_course):
    out = tmp_path / "out"
    done = run_grader("check", submission(fixture_course), "--out", str(out))
    assert done.returncode == 0, done.stderr
    document = json.loads((out / "results.json").read_text())
    assert document["sandboxed"] is True and "unconfined" not in (out / "index.html").read_text()


def fake_data(home: Path) -> Path:
    """A FASTAI_HOME whose data folder holds a tiny stand-in for the datasets, with a manifest."""
    data = home / "data"
    for folder, name, content in (("mnist_sample/train/3", "10.png", b"png-bytes"),
                                  ("mnist_png/testing/7", "0.png", b"other-png"),
                                  ("tensor-cache/mnist_sample", "train.pt", b"cache-bytes")):
        (data / folder).mkdir(parents=True, exist_ok=True)
        (data / folder / name).write_bytes(content)
    write_manifest(data, ["mnist_sample", "mnist_png", "tensor-cache"], hashed=["tensor-cache"])
    return data


def test_the_manifest_catches_changed_added_and_missing_files(tmp_path):
    data = fake_data(tmp_path)
    assert verify_manifest(data) == []
    (data / "tensor-cache/mnist_sample/train.pt").write_bytes(b"CACHE-BYTES")  # same size, other content
    (data / "mnist_sample/train/3/10.png").write_bytes(b"PNG-BYTES")
    (data / "mnist_sample/train/3/99.png").write_bytes(b"new")
    (data / "mnist_png/testing/7/0.png").unlink()
    assert verify_manifest(data) == ["missing: mnist_png/testing/7/0.png", "added: mnist_sample/train/3/99.png",
                                     "changed content: tensor-cache/mnist_sample/train.pt"]
    assert "changed content: mnist_sample/train/3/10.png" in verify_manifest(data, full=True)


def test_check_refuses_data_that_changed_since_grader_data_wrote_it(tmp_path):
    data = fake_data(tmp_path / "home")
    (data / "tensor-cache/mnist_sample/train.pt").write_bytes(b"tampered!!!")
    done = run_grader("check", str(BLANK_SGD), "--out", str(tmp_path / "out"),
                      env={"FASTAI_HOME": str(tmp_path / "home")})
    message = " ".join(done.stderr.split())
    assert done.returncode == 2 and "changed since `grader data` wrote it" in message
    assert "changed content: tensor-cache/mnist_sample/train.pt" in message and "grader data --force" in message
    (data / MANIFEST_NAME).unlink()
    done = run_grader("check", str(BLANK_SGD), "--out", str(tmp_path / "out"),
                      env={"FASTAI_HOME": str(tmp_path / "home")})
    assert done.returncode == 2 and "has no manifest" in " ".join(done.stderr.split())


def test_check_runs_the_courses_own_data_check_before_grading(tmp_path, fixture_course, monkeypatch):
    home = tmp_path / "home"
    assert run_grader("data", "--dest", str(home)).returncode == 0
    (home / "data" / "numbers" / "values.txt").write_text("1\n2\n")
    done = run_grader("check", submission(fixture_course), "--out", str(tmp_path / "out"),
                      env={"TINY_HOME": str(home)})
    assert done.returncode == 2 and "the fixture data in" in done.stderr and "run `grader data` again" in done.stderr
    assert not (tmp_path / "out").exists()


def test_grader_data_records_a_manifest_that_verifies(fastai_home, tmp_path):
    assert verify_manifest(fastai_home / "data") == []
    done = run_grader("data", "--verify", env={"FASTAI_HOME": str(fastai_home)})
    assert done.returncode == 0, done.stderr


def test_sizes_on_the_command_line():
    assert parse_size("4G") == 4 * GiB and parse_size("512M") == 512 * MiB and parse_size("1.5GiB") == int(1.5 * GiB)
    assert parse_size("1024") == 1024
    for bad in ("lots", "-1G", "0"):
        with pytest.raises(GraderError):
            parse_size(bad)


def test_bad_sizes_are_a_usage_error(tmp_path, fixture_course):
    done = run_grader("check", submission(fixture_course), "--memory", "lots", "--out", str(tmp_path))
    assert done.returncode == 2 and "not a size: 'lots'" in done.stderr


def test_a_notebook_flooding_its_output_keeps_only_the_limit(tmp_path, monkeypatch):
    import nbformat

    from grader import execute as execute_module

    monkeypatch.setattr(execute_module, "OUTPUT_LIMIT", 1 << 20)
    flood = nbformat.v4.new_code_cell("for i in range(40):\n    print('x' * 100_000)")
    after = nbformat.v4.new_code_cell("print('still running')")
    notebook = nbformat.v4.new_notebook(cells=[flood, after])
    done = execute_module.execute(notebook, probes=[], cwd=tmp_path, env={}, seed=0, cell_timeout=60,
                                  notebook_timeout=120)
    outputs = [output for cell in done.notebook.cells for output in cell.outputs]
    kept = sum(len(output.get("text", "")) for output in outputs)
    assert kept <= (1 << 20) + 200_000 and not done.problems
    assert any("output beyond 1 MB was dropped" in output.get("text", "") for output in outputs)
