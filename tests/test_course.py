"""The engine/course split: the engine's imports, course.toml loading, and the course's commands mounted by the CLI."""
from __future__ import annotations

import ast

import pytest

from conftest import FIXTURE_COURSE, REPO, run_grader
from grader.course import CourseError, load_course

ENGINE = REPO / "grader"


def engine_imports() -> dict[str, set[str]]:
    """Each engine module's imports of any package (module-level and inside functions), by module name."""
    graph = {}
    for path in sorted(ENGINE.rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
                names |= {f"{node.module}.{alias.name}" for alias in node.names}
        graph[module] = names
    return graph


def test_the_engine_never_imports_a_course():
    course_packages = {"reference", "assignments", "tinyref"}
    offending = {module: sorted(n for n in names if n.split(".")[0] in course_packages)
                 for module, names in engine_imports().items()}
    assert {m: n for m, n in offending.items() if n} == {}


def test_the_engine_has_no_import_cycle():
    graph = engine_imports()
    packages = {module for module in graph if (REPO / module.replace(".", "/") / "__init__.py").exists()}
    edges = {module: {name for name in names if name in graph and name != module and name not in packages}
             for module, names in graph.items()}  # importing grader.x imports the package grader first: not a cycle

    def cycle_from(start: str) -> list[str] | None:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for target in edges[node]:
                if target == start:
                    return path + [start]
                if target not in seen:
                    seen.add(target)
                    stack.append((target, path + [target]))
        return None

    cycles = [cycle for module in graph if (cycle := cycle_from(module))]
    assert cycles == []


def test_the_engine_source_names_no_chapter():
    words = ("MNIST", "mnist", "FASTAI_HOME", "fastai", "chapter 4", "import reference")
    found = [f"{path.relative_to(REPO)}:{number}" for path in ENGINE.rglob("*") if path.is_file()
             and path.suffix in (".py", ".j2", ".css")
             for number, line in enumerate(path.read_text().splitlines(), 1) if any(w in line for w in words)]
    assert found == []


def test_course_checks_import_only_the_facade():
    for checks in [*REPO.glob("assignments/*/checks.py"), *FIXTURE_COURSE.glob("assignments/*/checks.py")]:
        engine = {node.module for node in ast.walk(ast.parse(checks.read_text()))
                  if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("grader")}
        assert engine == {"grader.checks"}, checks


def test_a_folder_without_course_toml_is_refused_with_the_fix(tmp_path):
    with pytest.raises(CourseError, match="--course DIR"):
        load_course(tmp_path)
    done = run_grader("check", str(tmp_path), cwd=tmp_path, env={"GRADER_COURSE": ""})
    assert done.returncode == 2 and "no course.toml" in done.stderr and "Traceback" not in done.stderr
    unknown = run_grader("data", cwd=tmp_path, env={"GRADER_COURSE": ""})
    assert unknown.returncode == 2 and "no command 'data' here" in unknown.stderr


@pytest.mark.parametrize("text, problem", [("[course\n", "cannot read"),
                                           ("[course]\nassignments = 'nowhere'\n", "does not exist"),
                                           ("[commands]\ndata = 'no_colon'\n", "module:attribute")])
def test_a_malformed_course_is_refused_in_one_line(tmp_path, text, problem):
    (tmp_path / "assignments").mkdir()
    (tmp_path / "course.toml").write_text(text)
    done = run_grader("--course", str(tmp_path), "data", cwd=tmp_path)
    assert done.returncode == 2 and problem in done.stderr and "Traceback" not in done.stderr


def test_each_course_brings_its_own_commands():
    chapter = run_grader("--help")
    fixture = run_grader("--course", str(FIXTURE_COURSE), "--help")
    assert "Put MNIST_SAMPLE" in chapter.stdout and "reference" in chapter.stdout
    assert "synthetic data" in fixture.stdout and "MNIST" not in fixture.stdout
    assert all(name in fixture.stdout for name in ("check", "release", "classroom", "site", "assign"))


def test_the_fixture_course_loads_everything_from_its_toml():
    course = load_course(FIXTURE_COURSE)
    assert (course.title, sorted(course.assignments), course.hidden) == ("Engine fixture course", ["tiny"], ("tinyref",))
    assert course.data.home_env == "TINY_HOME" and course.data.writable == ("scratch",)
    assert course.ci.setup == ({"name": "Prepare the fixture data", "run": "grader data"},)
    assert course.kernel_env() == {"TINY_COURSE": "fixture", "TINY_HOME": str(course.data_home)}


def test_the_fixture_assignment_is_what_grader_assign_makes(tmp_path):
    done = run_grader("--course", str(FIXTURE_COURSE), "assign", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    made = {p.relative_to(tmp_path).as_posix(): p.read_text() for p in tmp_path.rglob("*") if p.is_file()}
    kept = {rel: (FIXTURE_COURSE / "assignments" / rel).read_text() for rel in made}
    assert made == kept and set(made) == {"README.md", "tiny/tiny.ipynb"}
    assert "twice_every_element" not in made["tiny/tiny.ipynb"]
