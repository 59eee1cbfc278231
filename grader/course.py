"""A course: the folder the engine grades for, described by its `course.toml` and passed explicitly to the engine.

    [course]
    title = "..."                    # shown in help and pages
    assignments = "assignments"      # <part>/<part>.ipynb, <part>/checks.py, README.md
    solutions = "solutions"          # solution notebooks `grader assign` makes the assignments from
    hidden = ["mycourse"]            # packages a student's kernel must never import, even if installed

    [data]                           # optional: prepared data kernels read (read-only)
    home_env = "MYDATA_HOME"         # environment variable naming the data home, given to kernels too
    home_default = "~/.mydata"       # the data home when that variable is unset
    folder = "data"                  # checks see <home>/<folder> as ctx.data_dir
    writable = ["tmp"]               # folders under the home that kernels get as small empty scratch space
    verify = "mycourse.data:verify"  # called with the data folder before grading; raises GraderError to refuse

    [kernel]                         # optional: more environment for every student kernel
    env = { MPLBACKEND = "agg" }
    preload = ["torch"]              # modules each worker's kernel template imports once (docs/throughput.md)

    [commands]                       # the course's own CLI commands, mounted as `grader NAME`
    data = "mycourse.cli:data"

    [ci]                             # set-up steps a CI workflow runs before grading
    cache = { path = "~/.mydata/data", key = "mydata-v1" }
    setup = [{ name = "Prepare the data", run = "grader data" }]

    [site]                           # optional: the course site's source folder (site.toml, landing text)
    source = "site"                  # default: site/ when the course has one

    [deadlines]                      # optional: each part's deadline, ISO 8601 with a UTC offset (a naive time is an error)
    baseline = "2026-12-01T23:59:00-05:00"

    [late]                           # optional: what work after a deadline costs (default: nothing, only recorded)
    per_day = 0.10                   # share of the points earned lost per day started after the deadline (0..1)
    cap = 0.5                        # the most that can be lost (0..1; default 1)
    grace = "15m"                    # lateness within this is not late (s, m, h, d: "90s", "1h30m"; default 0)
    [late.parts.learner]             # optional: one part's own policy; keys not given come from [late]
    per_day = 0.2

Deadlines name parts (folders of the assignments folder holding a checks.py); grader/late.py counts the days.

Relative paths are relative to the folder holding `course.toml`; that folder is put on `sys.path` of
the grading process (never of a student's kernel), so `checks.py` can import the course's packages.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import sys
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from grader.exceptions import GraderError
from grader.late import Deadline, parse_deadlines
from grader.spec import Assignment

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

COURSE_FILE = "course.toml"
COURSE_ENV = "GRADER_COURSE"
SITE_FOLDER = "site"


class CourseError(GraderError, ValueError):
    """No course could be found, or its course.toml is malformed."""


@dataclass(frozen=True)
class DataSpec:
    """Where a course's prepared data lives and how kernels find it."""

    home_env: str = ""
    home_default: str = ""
    folder: str = "data"
    writable: tuple[str, ...] = ()
    verify: str = ""

    def home(self) -> Path | None:
        """The data home: $home_env, else home_default; None when the course has no data."""
        raw = (os.environ.get(self.home_env) if self.home_env else None) or self.home_default
        return Path(raw).expanduser().resolve() if raw else None


@dataclass(frozen=True)
class CISetup:
    """What a CI workflow does before grading: a cache of the data, then set-up commands."""

    cache: dict[str, str] = field(default_factory=dict)
    setup: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class Course:
    """A loaded course: its folders, data, CLI commands and CI set-up."""

    root: Path
    title: str
    assignments_dir: Path
    solutions_dir: Path
    hidden: tuple[str, ...] = ()
    data: DataSpec = DataSpec()
    commands: dict[str, str] = field(default_factory=dict)
    ci: CISetup = CISetup()
    env: dict[str, str] = field(default_factory=dict)
    preload: tuple[str, ...] = ()  # modules the kernel template imports before it forks kernels
    site_dir: Path | None = None  # the site's source: [site] source, else site/ when present; None: no source
    deadlines: dict[str, Deadline] = field(default_factory=dict)  # by part; empty: no deadlines, nothing is late

    @cached_property
    def assignments(self) -> dict[str, Assignment]:
        """Every assignment spec of the course, by part name."""
        from grader.discover import load_assignments

        self.on_path()
        return load_assignments(self.assignments_dir)

    def on_path(self) -> None:
        """Make the course's packages importable in this (grading) process."""
        if str(self.root) not in sys.path:
            sys.path.append(str(self.root))

    def resolve(self, target: str) -> Any:
        """The object a `module:attribute` string names, imported from the course."""
        module, _, attribute = target.partition(":")
        if not module or not attribute:
            raise CourseError(f"{self.root / COURSE_FILE}: {target!r} is not of the form 'module:attribute'")
        self.on_path()
        try:
            return getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as error:
            raise CourseError(f"{self.root / COURSE_FILE}: cannot load {target!r}: {error}") from error

    @property
    def data_home(self) -> Path | None:
        """The folder kernels get read-only (None when the course declares no data)."""
        return self.data.home()

    @property
    def data_dir(self) -> Path:
        """What checks see as `ctx.data_dir`."""
        home = self.data_home
        return home / self.data.folder if home is not None else self.root / self.data.folder

    def kernel_env(self) -> dict[str, str]:
        """Environment variables a kernel gets from the course: [kernel] env, and the data home's variable."""
        home = self.data_home
        data = {self.data.home_env: str(home)} if self.data.home_env and home is not None else {}
        return {**self.env, **data}

    def verify_data(self) -> None:
        """Run the course's data check (GraderError when the data must not be trusted)."""
        if self.data.verify:
            verify: Callable[[Path], None] = self.resolve(self.data.verify)
            verify(self.data_dir)


def code_files(course: Course) -> list[Path]:
    """course.toml and every file of the course's assignments folder and `hidden` packages (no caches, no dotfiles)."""
    roots = {course.root / COURSE_FILE, course.assignments_dir.resolve()}
    for name in course.hidden:
        roots.update(path.resolve() for path in (course.root / name, course.root / f"{name}.py") if path.exists())
    files = set()
    for root in roots:
        found = root.rglob("*") if root.is_dir() else [root]
        files.update(path for path in found if path.is_file() and not any(
            part.startswith(".") or part == "__pycache__" for part in path.relative_to(root.parent).parts))
    return sorted(files)


def code_fingerprint(course: Course) -> str:
    """SHA-256 over the course's code files (paths relative to the course, and bytes)."""
    digest = hashlib.sha256()
    for path in code_files(course):
        digest.update(f"{os.path.relpath(path, course.root)}\0{path.stat().st_size}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _site_dir(root: Path, site: dict[str, Any]) -> Path | None:
    """The site's source folder: [site] source, else site/ when the course has one."""
    if "source" in site:
        return root / site["source"]
    return root / SITE_FOLDER if (root / SITE_FOLDER).is_dir() else None


def find_course_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` holding a course.toml."""
    start = start.resolve()
    return next((folder for folder in (start, *start.parents) if (folder / COURSE_FILE).is_file()), None)


def locate_course(course: Path | str | None = None) -> Path:
    """The course folder: the argument, else $GRADER_COURSE, else the current folder or one above it."""
    chosen = course or os.environ.get(COURSE_ENV)
    if chosen:
        root = Path(chosen).expanduser()
        root = root.parent if root.name == COURSE_FILE else root
        if not (root / COURSE_FILE).is_file():
            raise CourseError(f"{root} has no {COURSE_FILE}: pass the course folder with --course DIR "
                              f"(or ${COURSE_ENV})")
        return root.resolve()
    found = find_course_root(Path.cwd())
    if found is None:
        raise CourseError(f"no {COURSE_FILE} in {Path.cwd()} or above it: run inside a course folder, or pass "
                          f"--course DIR (or set ${COURSE_ENV})")
    return found


def load_course(course: Path | str | None = None) -> Course:
    """Read and check a course.toml (see the module docstring for its tables)."""
    root = locate_course(course)
    path = root / COURSE_FILE
    try:
        table = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise CourseError(f"cannot read {path}: {error}") from None
    meta, data, ci = table.get("course", {}), table.get("data", {}), table.get("ci", {})
    try:
        loaded = Course(
            root=root, title=str(meta.get("title") or root.name),
            assignments_dir=root / meta.get("assignments", "assignments"),
            solutions_dir=root / meta.get("solutions", "solutions"),
            hidden=tuple(meta.get("hidden", ())),
            data=DataSpec(home_env=data.get("home_env", ""), home_default=data.get("home_default", ""),
                          folder=data.get("folder", "data"), writable=tuple(data.get("writable", ())),
                          verify=data.get("verify", "")),
            commands={str(name): str(target) for name, target in table.get("commands", {}).items()},
            ci=CISetup(cache=dict(ci.get("cache", {})), setup=tuple(dict(step) for step in ci.get("setup", ()))),
            env={str(name): str(value) for name, value in table.get("kernel", {}).get("env", {}).items()},
            preload=tuple(str(name) for name in table.get("kernel", {}).get("preload", ())),
            site_dir=_site_dir(root, table.get("site", {})))
    except (TypeError, ValueError, AttributeError) as error:
        raise CourseError(f"{path} is malformed: {error}") from None
    if not loaded.assignments_dir.is_dir():
        raise CourseError(f"{path}: the assignments folder {loaded.assignments_dir} does not exist")
    if "deadlines" in table or "late" in table:
        parts = {checks.parent.name for checks in loaded.assignments_dir.glob("*/checks.py")}
        try:
            deadlines = parse_deadlines(table.get("deadlines", {}), table.get("late", {}), parts=parts, where=str(path))
        except GraderError as error:
            raise CourseError(str(error)) from None
        loaded = replace(loaded, deadlines=deadlines)
    return loaded
