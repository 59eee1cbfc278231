"""`grader release`: what students receive holds no solution, hidden check or hidden expected value, and self-checks alone."""
from __future__ import annotations

import json
import os
import re
import zlib
from pathlib import Path

import nbformat
import pytest
import torch
from safetensors.torch import load_file

from conftest import REPO, run_grader
from grader.checks import Context, Visibility
from grader.course import load_course
from grader.probe import generate_inputs

SOLUTION_REGION = re.compile(r"# BEGIN SOLUTION\n(.*?)# END SOLUTION", re.S)


def squeezed(text: str) -> str:
    """Text without any whitespace, so that reformatting cannot hide a copy."""
    return re.sub(r"\s+", "", text)


def solution_only_lines(course_root: Path) -> set[str]:
    """Lines of the solution notebooks that no assignment notebook contains (what `grader assign` removed)."""
    given = {squeezed(line) for notebook in sorted((course_root / "assignments").glob("*/*.ipynb"))
             for cell in nbformat.read(notebook, 4).cells for line in cell.source.splitlines()}
    secret = set()
    for solution in sorted((course_root / "reference" / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(solution, 4).cells:
            answer = any(re.fullmatch(r"q\d+", tag) for tag in cell.metadata.get("tags", []))
            regions = [cell.source] if answer else SOLUTION_REGION.findall(cell.source)
            secret |= {squeezed(line) for text in regions for line in text.splitlines()} - given
    return {line for line in secret if len(line) >= 12}


def texts_of(path: Path) -> list[str]:
    """The text a student could read in a file: notebook cell sources, every string in a JSON file, else the file."""
    if path.suffix == ".ipynb":
        return [cell.source for cell in nbformat.read(path, 4).cells]
    if path.suffix == ".json":
        def strings(value):
            if isinstance(value, str):
                yield value
            elif isinstance(value, dict):
                for key, item in value.items():
                    yield key
                    yield from strings(item)
            elif isinstance(value, list):
                for item in value:
                    yield from strings(item)
        return list(strings(json.loads(path.read_text(encoding="utf-8"))))
    return [path.read_text(encoding="utf-8")]


def hidden_expectations(fastai_home: Path, seed: int = 0) -> dict[str, list[torch.Tensor]]:
    """Every hidden check's expected tensors (on the inputs a release with `seed` would draw), by check name."""
    os.environ.setdefault("FASTAI_HOME", str(fastai_home))
    course = load_course(REPO)
    found = {}
    for part, assignment in course.assignments.items():
        for check in assignment.checks:
            if check.visibility == Visibility.VISIBLE:
                continue
            inputs = generate_inputs(check, seed=seed ^ zlib.crc32(f"{part}/{check.name}".encode()))
            value = check.expected(Context(inputs=inputs, data_dir=course.data_dir)) if check.expected else None
            found[check.name] = [t for t in (value if isinstance(value, (list, tuple)) else [value])
                                 if isinstance(t, torch.Tensor) and t.numel() > 1]
    return found


def leaks_in(root: Path, fastai_home: Path) -> list[str]:
    """What of the key a folder of student files gives away: solution lines, hidden check names, hidden values."""
    secrets = solution_only_lines(REPO)
    hidden = hidden_expectations(fastai_home)
    leaks = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts):
        if path.suffix == ".safetensors":
            for key, tensor in load_file(str(path)).items():
                for name, values in hidden.items():
                    if any(v.shape == tensor.shape and torch.allclose(v.double(), tensor.double()) for v in values):
                        leaks.append(f"{path.name}:{key} equals the expected value of hidden check {name}")
            continue
        texts = texts_of(path)
        for line in (line for text in texts for line in text.splitlines()):
            if squeezed(line) in secrets:
                leaks.append(f"{path.relative_to(root)}: solution line {line.strip()[:80]!r}")
        if path.parent.name == "selfcheck":
            leaks += [f"{path.relative_to(root)} names hidden check {name}" for name in hidden
                      if any(name in text for text in texts)]
    return leaks


@pytest.fixture(scope="module")
def released(tmp_path_factory, fastai_home):
    """The chapter course released by the real command."""
    out = tmp_path_factory.mktemp("release") / "students"
    done = run_grader("release", "--out", str(out), env={"FASTAI_HOME": str(fastai_home)})
    assert done.returncode == 0, done.stderr
    return out, done


def test_the_release_holds_notebooks_readme_and_bundle_only(released):
    out, done = released
    parts = sorted(load_course(REPO).assignments)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.ipynb")) == [f"{p}/{p}.ipynb" for p in parts]
    assert (out / "README.md").read_text() == (REPO / "assignments" / "README.md").read_text()
    assert sorted(p.name for p in (out / "selfcheck").iterdir()) == sorted(
        ["bundle.json", *(f"{p}.json" for p in parts), *(f"{p}.safetensors" for p in parts)])
    assert not any(p.suffix in (".py", ".pkl", ".pt", ".toml") for p in out.rglob("*"))
    assert "learner: checked at grading only (its probe code contains solution code): basic_optim" in done.stderr


def test_the_release_gives_away_no_solution_hidden_check_or_hidden_value(released, fastai_home):
    out, _ = released
    assert solution_only_lines(REPO)  # the scan has something to look for
    assert hidden_expectations(fastai_home)["mnist_distance_broadcast"]
    assert leaks_in(out, fastai_home) == []


def test_the_scan_finds_a_planted_solution_and_a_hidden_value(released, fastai_home, tmp_path):
    out, _ = released
    planted = tmp_path / "planted"
    (planted / "selfcheck").mkdir(parents=True)
    (planted / "notes.md").write_text("    xt = tensor([3., 4., 10.]).requires_grad_()\n")  # a line grader assign removes
    [value] = hidden_expectations(fastai_home)["mnist_distance_broadcast"]
    from safetensors.torch import save_file
    save_file({"x": value.contiguous()}, str(planted / "selfcheck" / "baseline.safetensors"))
    (planted / "selfcheck" / "baseline.json").write_text(json.dumps({"checks": [{"name": "learner_loss_falls"}]}))
    leaks = leaks_in(planted, fastai_home)
    assert len(leaks) == 3, leaks


def test_a_solution_self_checks_from_the_release_alone(released, tmp_path):
    """The sgd solution, run in a kernel whose only grader is the engine, previews 8/8 from the bundle."""
    from nbclient import NotebookClient

    out, _ = released
    notebook = nbformat.read(REPO / "reference" / "solutions" / "sgd.ipynb", as_version=4)
    notebook.cells += [nbformat.v4.new_code_cell("import importlib.util\n"
                                                 "print('course importable:', importlib.util.find_spec('reference'))"),
                       nbformat.v4.new_code_cell("from grader import check\ncheck('sgd')")]
    env = {key: value for key, value in os.environ.items() if key not in ("GRADER_COURSE", "FASTAI_HOME")}
    client = NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(out / "sgd")}})
    with client.setup_kernel(env=env):
        for index, cell in enumerate(notebook.cells):
            client.execute_cell(cell, index)
    printed = ["".join(o.get("text", "") for o in cell.outputs) for cell in notebook.cells[-2:]]
    assert printed[0].strip() == "course importable: None"
    assert "PREVIEW ONLY" in printed[1] and "Preview: 8/8 on the visible checks." in printed[1], printed[1]


def test_release_refuses_a_folder_in_use(tmp_path):
    (tmp_path / "mine.txt").write_text("keep me")
    done = run_grader("release", "--out", str(tmp_path))
    assert done.returncode == 2 and "--force" in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "mine.txt").read_text() == "keep me"
