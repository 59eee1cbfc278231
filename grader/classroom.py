"""`grader classroom init`: a student template repository (the release) whose workflow grades each part.

The template holds what students may see (notebooks, self-check bundle, README) and
`.github/workflows/classroom.yml`. At grading time the workflow checks out the grading course (a
private repository students cannot read) with a read-only deploy key kept as a secret, installs the
engine from it, and grades every part in the sandbox, so the student's code never sees the course.
See docs/classroom.md for the set-up, step by step, and what this protects and what it cannot.
"""
from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grader.course import Course
from grader.emitters.github import encode, quarter_points
from grader.exceptions import NoSuchAssignment, WorkflowExists
from grader.spec import Assignment

WORKFLOW_PATH = Path(".github/workflows/classroom.yml")
WORKFLOW_NAME = "Autograding Tests"  # the reporter looks for a check run of exactly this name
JOB_ID = "run-autograding-tests"
COURSE_FOLDER = ".grader-course"  # where the workflow checks out the grading course
COURSE_REPOSITORY = "${{ vars.GRADER_COURSE_REPOSITORY }}"  # owner/name of the private grading course
COURSE_KEY = "${{ secrets.GRADER_COURSE_KEY }}"  # read-only deploy key of that repository
DEFAULT_NOTEBOOK = "{part}/{part}.ipynb"
DEFAULT_PACKAGE = f"./{COURSE_FOLDER}"
DEFAULT_TIMEOUT_MINUTES = 60
# Actions pinned by commit (read from each action's repository at its release tag).
CHECKOUT = "actions/checkout@11d5960a326750d5838078e36cf38b85af677262"  # v4.4.0
SETUP_PYTHON = "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065"  # v5.6.0
CACHE = "actions/cache@0057852bfaa89a56745cba8c7296529d2fc39830"  # v4.3.0
REPORTER = "classroom-resources/autograding-grading-reporter@d13b5912daf5042ac1b71bc38bdb4a6bcd61d8ca"  # v1
PINNED = {CHECKOUT: "v4.4.0", SETUP_PYTHON: "v5.6.0", CACHE: "v4.3.0", REPORTER: "v1"}
# Grading runs as root (through sudo on a hosted runner) so that each sandbox gets a uid of its own and its limits bind.
AS_ROOT = 'S=$([ "$(id -u)" = 0 ] || echo sudo --preserve-env=GITHUB_OUTPUT,GITHUB_STEP_SUMMARY)'
INSTALL_SANDBOX = """sudo apt-get update -q && sudo apt-get install -y -q bubblewrap
if [ -e /proc/sys/kernel/apparmor_restrict_unprivileged_userns ]; then
  sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0
fi"""


GRADER_MARGIN_MINUTES = 2  # the grader is stopped this long before the step's own limit, to write a result anyway


@dataclass(frozen=True)
class GradingStep:
    """One graded step of the workflow: an assignment, its points and its time limit."""

    name: str
    title: str
    max_score: float
    timeout_minutes: int
    id: str = ""  # the step id and reporter runner name: letters and digits only (the reporter's pattern)

    @property
    def runner(self) -> str:
        """The id the reporter knows this step by (the part's name when it is letters and digits already)."""
        return self.id or runner_id(self.name)

    @property
    def grader_seconds(self) -> int:
        """How long `grader check` may run: it ends before the step's timeout, so the step always writes `result`."""
        return max(60, (self.timeout_minutes - GRADER_MARGIN_MINUTES) * 60)


def runner_id(name: str, taken: set[str] = frozenset()) -> str:
    """A step id the reporter accepts (`^[a-zA-Z0-9]+$` per runner) that is also a valid step id (starts with a
    letter): `from_scratch` -> `fromscratch`, `04_intro` -> `part04intro`; a number is added when two would clash."""
    base = re.sub(r"[^A-Za-z0-9]", "", name) or "part"
    if not base[0].isalpha():
        base = f"part{base}"
    candidate, n = base, 1
    while candidate.lower() in {t.lower() for t in taken}:  # env names are upper-cased: ids must differ in more than case
        n += 1
        candidate = f"{base}{n}"
    return candidate


def grading_steps(course: Course, *, names: list[str] | None = None) -> list[GradingStep]:
    """The assignments to grade, alphabetically unless named, with titles, points and time limits."""
    available = sorted(course.assignments)
    chosen = names or available
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise NoSuchAssignment(f"no assignment {', '.join(unknown)} in {course.assignments_dir} "
                               f"(the course has: {', '.join(available) or 'none'})")
    steps: list[GradingStep] = []
    for name in chosen:
        steps.append(_step(name, course.assignments[name], taken={step.id for step in steps}))
    return steps


def _step(name: str, assignment: Assignment, *, taken: set[str] = frozenset()) -> GradingStep:
    """A GradingStep from a loaded Assignment."""
    minutes = math.ceil(assignment.notebook_timeout / 60) + 5  # kernel start-up and probes on top of the notebook
    return GradingStep(name, assignment.title or name, assignment.max_score, minutes, runner_id(name, taken))


def fallback_blob(part: GradingStep, reason: str) -> str:
    """The base64 result a step writes when `grader check` wrote none: 0 of the part's points, with the reason."""
    test = {"name": f"{part.name}: could not be graded", "status": "error", "score": 0, "message": reason,
            "test_code": "grader check", "filename": "", "line_no": 0, "duration": 0}
    return encode({"version": 1, "status": "error", "max_score": quarter_points(part.max_score), "tests": [test]})


def _fallback_reasons(part: GradingStep) -> tuple[str, str]:
    """What a student reads when the grader ran out of time, and when it stopped without a result."""
    timed_out = (f"Not graded: grading took longer than {part.grader_seconds // 60} minutes and was stopped. "
                 "Check that your notebook runs from top to bottom in reasonable time, then push again.")
    failed = ("Not graded: the grader stopped without a result (see the step's log). "
              "This is usually not your fault: tell your instructor.")
    return timed_out, failed


def grading_command(part: str | GradingStep, course: Course, *, notebook: str = DEFAULT_NOTEBOOK) -> str:
    """The shell script a step runs for one part: grade its notebook as root (stopped before the step's own time
    limit) and emit the classroom result blob; when the grader wrote none, write 0 of the part's points and why."""
    step = part if isinstance(part, GradingStep) else _step(part, course.assignments[part])
    path = shlex.quote(notebook.format(part=step.name))
    data = course.data
    home = ""
    if data.home_env:
        default = data.home_default.replace("~", "$HOME", 1) if data.home_default.startswith("~") else data.home_default
        home = f' "{data.home_env}=${{{data.home_env}:-{default}}}"'
    timed_out, failed = _fallback_reasons(step)
    return "\n".join([
        AS_ROOT,
        "code=0",
        f'$S timeout --kill-after=30 {step.grader_seconds} env "PATH=$PATH" "GRADER_COURSE=$GRADER_COURSE"{home} '
        f"grader check {path} --format github --format table --format json --out .grader/{step.name} || code=$?",
        '# a result for the reporter whatever happened: 124/137 = stopped by the time limit above',
        'if ! grep -qs "^result=" "$GITHUB_OUTPUT"; then',
        '  case $code in 124|137) reason=timeout;; *) reason=failed;; esac',
        f'  [ $reason = timeout ] && blob={fallback_blob(step, timed_out)} || blob={fallback_blob(step, failed)}',
        '  echo "result=$blob" >> "$GITHUB_OUTPUT"',
        f'  echo "### {step.name}: not graded ($reason, exit code $code): 0 of {step.max_score:g} points" '
        '>> "$GITHUB_STEP_SUMMARY"',
        'fi',
        '# the step succeeds whatever the grade: the result above carries the outcome to the reporter',
        'echo "grader check exited with code $code"',
    ])


def workflow(parts: list[GradingStep], course: Course, *, notebook: str = DEFAULT_NOTEBOOK,
             package: str = DEFAULT_PACKAGE, python_version: str = "3.11") -> dict[str, Any]:
    """The workflow as data: fetch the course, set up, one grading step per part, then the reporter."""
    setup = [
        {"name": "Checkout code", "uses": CHECKOUT, "with": {"persist-credentials": False}},
        {"name": "Fetch the grading course", "uses": CHECKOUT,
         "with": {"repository": COURSE_REPOSITORY, "ssh-key": COURSE_KEY, "path": COURSE_FOLDER,
                  "persist-credentials": False}},
        {"name": "Set up Python", "uses": SETUP_PYTHON, "with": {"python-version": python_version}},
    ]
    if course.ci.cache:
        setup.append({"name": "Cache the course data", "uses": CACHE, "with": dict(course.ci.cache)})
    setup.append({"name": "Install grader", "run": f"python -m pip install {package}",
                  "env": {"PIP_EXTRA_INDEX_URL": "https://download.pytorch.org/whl/cpu"}})
    setup += [dict(step) for step in course.ci.setup]
    setup.append({"name": "Install the sandbox (bubblewrap)", "run": INSTALL_SANDBOX})
    grading = [_grading_step(part, course, notebook=notebook) for part in parts]
    reporter = {"name": "Autograding Reporter", "if": "always()", "uses": REPORTER,
                "env": {f"{part.runner.upper()}_RESULTS": "${{ steps.%s.outputs.result }}" % part.runner
                        for part in parts},
                "with": {"runners": ",".join(part.runner for part in parts)}}
    return {"name": WORKFLOW_NAME, "on": ["push", "workflow_dispatch", "repository_dispatch"],
            "permissions": {},
            "jobs": {JOB_ID: {"name": "Grade the notebooks", "runs-on": "ubuntu-latest",
                              "if": "github.actor != 'github-classroom[bot]'",
                              "permissions": {"contents": "read"},
                              "env": {"GRADER_COURSE": COURSE_FOLDER},
                              "steps": [*setup, *grading, reporter]}}}


def _grading_step(part: GradingStep, course: Course, *, notebook: str) -> dict[str, Any]:
    """One part: its command writes `result` (partial credit kept) to the step's outputs; a failure stops nothing."""
    points = f" ({part.max_score:g} points)"
    return {"name": f"{part.title}{points}", "id": part.runner, "continue-on-error": True,
            "timeout-minutes": part.timeout_minutes, "run": grading_command(part, course, notebook=notebook)}


class _WorkflowDumper(yaml.SafeDumper):
    """YAML as people write workflows: multi-line scripts as literal blocks (`run: |-`)."""


def _literal_when_multiline(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    """A multi-line string as a literal block, anything else as usual."""
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_WorkflowDumper.add_representer(str, _literal_when_multiline)


def workflow_text(document: dict[str, Any]) -> str:
    """YAML text of the workflow, with a header saying where it came from and each action's version."""
    header = ("# Written by `grader classroom init`: fetches the grading course, grades each part in the sandbox,\n"
              "# reports points to GitHub Classroom. Set GRADER_COURSE_REPOSITORY (variable) and GRADER_COURSE_KEY\n"
              "# (secret): see the course's docs/classroom.md.\n")
    text = yaml.dump(document, Dumper=_WorkflowDumper, sort_keys=False, width=120, default_flow_style=False)
    for action, version in PINNED.items():
        text = text.replace(f"uses: {action}\n", f"uses: {action} # {version}\n")
    return header + text.replace(
        f"ssh-key: '{COURSE_KEY}'\n",
        f"ssh-key: '{COURSE_KEY}' # zizmor: ignore[secrets-outside-env] Classroom repositories have no environments\n")


def init_template(directory: Path, course: Course, *, names: list[str] | None = None, force: bool = False,
                  package: str = DEFAULT_PACKAGE) -> tuple[Path, list[Path]]:
    """Write the student template repository: the release plus its grading workflow; (workflow, release files)."""
    from grader.release import write_release

    directory = Path(directory)
    target = directory / WORKFLOW_PATH
    if target.exists() and not force:
        raise WorkflowExists(f"{target} already exists; pass --force to replace it")
    found = grading_steps(course, names=names)
    if not found:
        raise NoSuchAssignment(f"no assignment specs found in {course.assignments_dir} (<part>/checks.py)")
    written, _ = write_release(course, directory, names=[part.name for part in found], force=force)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(workflow_text(workflow(found, course, package=package)))
    return target, written
