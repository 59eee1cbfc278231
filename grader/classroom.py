"""`grader classroom init`: a GitHub Classroom workflow that grades each assignment part and reports the points."""
from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grader.exceptions import UnknownPart, WorkflowExists

WORKFLOW_PATH = Path(".github/workflows/classroom.yml")
WORKFLOW_NAME = "Autograding Tests"  # the reporter looks for a check run of exactly this name
JOB_ID = "run-autograding-tests"
REPORTER = "classroom-resources/autograding-grading-reporter@v1"
DATA_FOLDER = "~/.fastai/data"  # fastai's default FASTAI_HOME/data, where `grader data` writes MNIST
DEFAULT_NOTEBOOK = "assignments/{part}/{part}.ipynb"
DEFAULT_PACKAGE = "."
DEFAULT_TIMEOUT_MINUTES = 60
# Grading runs as root (through sudo on a hosted runner) so that each sandbox gets a uid of its own and its limits bind.
AS_ROOT = 'S=$([ "$(id -u)" = 0 ] || echo sudo --preserve-env=GITHUB_OUTPUT,GITHUB_STEP_SUMMARY)'
INSTALL_SANDBOX = """sudo apt-get update -q && sudo apt-get install -y -q bubblewrap
if [ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ]; then
  sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0
fi"""


@dataclass(frozen=True)
class Part:
    """One graded step of the workflow: an assignment part, its points and its time limit."""

    name: str
    title: str
    max_score: float | None
    timeout_minutes: int


def part_order(*, folders: list[Path] | None = None) -> list[str]:
    """Names of the parts that have a check spec (`<folder>/<part>/checks.py`), in a fixed (alphabetical) order."""
    from grader.discover import assignment_folders

    found = {p.parent.name for folder in folders or assignment_folders() for p in Path(folder).glob("*/checks.py")}
    return sorted(found)


def discover_parts(*, names: list[str] | None = None, folders: list[Path] | None = None) -> list[Part]:
    """The parts to grade, with titles, points and time limits read from their specs."""
    from grader.discover import assignment_folders

    folders = list(folders or assignment_folders())
    available = part_order(folders=folders)
    chosen = [n for name in names or [] for n in name.split(",") if n] or available
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise UnknownPart(f"no assignment spec for {', '.join(unknown)} in {', '.join(map(str, folders))} "
                          f"(known parts: {', '.join(available) or 'none'})")
    return [_part(name, _load_spec(name, folders)) for name in chosen]


def _load_spec(name: str, folders: list[Path]) -> Any:
    """The part's Assignment from the first folder declaring it, or None: a broken spec must not stop the workflow."""
    from grader.discover import _load_spec as load_checks_file

    checks_file = next(Path(f) / name / "checks.py" for f in folders if (Path(f) / name / "checks.py").exists())
    try:
        return load_checks_file(checks_file)
    except Exception:  # noqa: BLE001 - an unfinished spec gives a step without points
        return None


def _part(name: str, assignment: Any) -> Part:
    """A Part from a loaded Assignment, or a step without points when its spec did not load."""
    if assignment is None:
        return Part(name, name, None, DEFAULT_TIMEOUT_MINUTES)
    minutes = math.ceil(assignment.notebook_timeout / 60) + 5  # kernel start-up and probes on top of the notebook
    return Part(name, assignment.title or name, assignment.max_score, minutes)


def grading_command(part: str, *, notebook: str = DEFAULT_NOTEBOOK) -> str:
    """The shell command a step runs for one part: grade its notebook, emit the classroom result blob."""
    path = shlex.quote(notebook.format(part=part))
    return (f'{AS_ROOT}\n$S env "PATH=$PATH" "FASTAI_HOME=${{FASTAI_HOME:-$HOME/.fastai}}" '
            f"grader check {path} --format github --format table --out .grader/{part}")


def workflow(parts: list[Part], *, notebook: str = DEFAULT_NOTEBOOK, package: str = DEFAULT_PACKAGE,
             python_version: str = "3.11") -> dict[str, Any]:
    """The workflow as data: set-up steps, one grading step per part, then the reporter."""
    setup = [
        {"name": "Checkout code", "uses": "actions/checkout@v4"},
        {"name": "Set up Python", "uses": "actions/setup-python@v5",
         "with": {"python-version": python_version, "cache": "pip",
                  "cache-dependency-path": str(WORKFLOW_PATH)}},
        {"name": "Cache MNIST", "uses": "actions/cache@v4",
         "with": {"path": DATA_FOLDER, "key": "mnist-fastai-data-v1"}},
        {"name": "Install grader", "run": f"python -m pip install {package}",
         "env": {"PIP_EXTRA_INDEX_URL": "https://download.pytorch.org/whl/cpu"}},
        {"name": "Prepare MNIST", "run": "grader data"},
        {"name": "Install the sandbox (bubblewrap)", "run": INSTALL_SANDBOX},
    ]
    grading = [_grading_step(part, notebook=notebook) for part in parts]
    reporter = {"name": "Autograding Reporter", "if": "always()", "uses": REPORTER,
                "env": {f"{part.name.upper()}_RESULTS": "${{ steps.%s.outputs.result }}" % part.name
                        for part in parts},
                "with": {"runners": ",".join(part.name for part in parts)}}
    return {"name": WORKFLOW_NAME, "on": ["push", "workflow_dispatch", "repository_dispatch"],
            "permissions": {"checks": "write", "actions": "read", "contents": "read"},
            "jobs": {JOB_ID: {"runs-on": "ubuntu-latest", "if": "github.actor != 'github-classroom[bot]'",
                              "steps": [*setup, *grading, reporter]}}}


def _grading_step(part: Part, *, notebook: str) -> dict[str, Any]:
    """One part: its command writes `result` (partial credit kept) to the step's outputs; a failure stops nothing."""
    points = f" ({part.max_score:g} points)" if part.max_score is not None else ""
    return {"name": f"{part.title}{points}", "id": part.name, "continue-on-error": True,
            "timeout-minutes": part.timeout_minutes, "run": grading_command(part.name, notebook=notebook)}


def workflow_text(document: dict[str, Any]) -> str:
    """YAML text of the workflow, with a header saying where it came from."""
    header = "# Written by `grader classroom init`: grades each part and reports points to GitHub Classroom.\n"
    return header + yaml.safe_dump(document, sort_keys=False, width=120, default_flow_style=False)


def init_workflow(directory: Path, *, parts: list[str] | None = None, force: bool = False,
                  notebook: str = DEFAULT_NOTEBOOK, package: str = DEFAULT_PACKAGE,
                  folders: list[Path] | None = None) -> Path:
    """Write `.github/workflows/classroom.yml` under `directory`; refuses to overwrite unless `force`."""
    target = Path(directory) / WORKFLOW_PATH
    if target.exists() and not force:
        raise WorkflowExists(f"{target} already exists; pass --force to replace it")
    found = discover_parts(names=parts, folders=folders)
    if not found:
        raise UnknownPart("no assignment specs found (assignments/<part>/checks.py or $GRADER_ASSIGNMENTS)")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(workflow_text(workflow(found, notebook=notebook, package=package)))
    return target
