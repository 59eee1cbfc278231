"""`grader site --pages-workflow DIR`: a GitHub Actions workflow that builds the course site and publishes it on Pages.

The workflow runs in the repository that holds the course: one job installs the engine, runs
`grader site` (the landing page and the notebooks: never students' results) and uploads the build
folder; a second job, the only one allowed to write Pages and mint an OIDC token, deploys it.
Actions are pinned by commit like the Classroom workflow's. Set-up: docs/site.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from grader.classroom import CHECKOUT, PINNED, SETUP_PYTHON
from grader.course import Course
from grader.exceptions import WorkflowExists
from grader.site import DEFAULT_OUT, read_source

WORKFLOW_PATH = Path(".github/workflows/pages.yml")
WORKFLOW_NAME = "Course site"
DEFAULT_PACKAGE = "."  # the repository itself holds the engine (as this one does)
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"  # the course's checks import torch; CPU wheels are enough
# Actions pinned by commit (read from each action's repository at its release tag).
CONFIGURE_PAGES = "actions/configure-pages@983d7736d9b0ae728b81ab479565c72886d7745b"  # v5.0.0
UPLOAD_PAGES_ARTIFACT = "actions/upload-pages-artifact@fc324d3547104276b827a68afc52ff2a11cc49c9"  # v5.0.0
DEPLOY_PAGES = "actions/deploy-pages@cd2ce8fcbc39b97be8ca5fce6e763baed58fa128"  # v5.0.0
PAGES_PINNED = {**PINNED, CONFIGURE_PAGES: "v5.0.0", UPLOAD_PAGES_ARTIFACT: "v5.0.0", DEPLOY_PAGES: "v5.0.0"}
PERMISSION_NOTES = {  # why each job needs what it asks for, as comments in the YAML
    "pages: read": "configure-pages reads the repository's Pages settings",
    "pages: write": "deploy-pages publishes the uploaded site",
    "id-token: write": "deploy-pages proves to Pages which run it is (OIDC)",
}


def workflow(course: Course, *, repository: Path, branch: str = "main", package: str = DEFAULT_PACKAGE,
             python_version: str = "3.11") -> dict[str, Any]:
    """The workflow as data: build on a push to `branch` (or by hand), then deploy with Pages' own permissions."""
    root, repository = Path(course.root).resolve(), Path(repository).resolve()
    in_subfolder = root != repository and root.is_relative_to(repository)
    env = {"GRADER_COURSE": root.relative_to(repository).as_posix()} if in_subfolder else {}
    build = [
        {"name": "Checkout code", "uses": CHECKOUT, "with": {"persist-credentials": False}},
        {"name": "Check that Pages publishes from GitHub Actions", "uses": CONFIGURE_PAGES},
        {"name": "Set up Python", "uses": SETUP_PYTHON, "with": {"python-version": python_version}},
        {"name": "Install grader", "run": f"python -m pip install {package}",
         "env": {"PIP_EXTRA_INDEX_URL": TORCH_CPU_INDEX}},
        {"name": "Build the site", "run": f"grader site --out {DEFAULT_OUT}"},
        {"name": "Upload the site", "uses": UPLOAD_PAGES_ARTIFACT, "with": {"path": DEFAULT_OUT}},
    ]
    deploy = [{"name": "Deploy to GitHub Pages", "id": "deployment", "uses": DEPLOY_PAGES}]
    build_job = {"name": "Build the site", "runs-on": "ubuntu-latest",
                 "permissions": {"contents": "read", "pages": "read"}, **({"env": env} if env else {}),
                 "steps": build}
    deploy_job = {"name": "Publish on GitHub Pages", "needs": "build", "runs-on": "ubuntu-latest",
                  "permissions": {"pages": "write", "id-token": "write"},
                  "environment": {"name": "github-pages", "url": "${{ steps.deployment.outputs.page_url }}"},
                  "steps": deploy}
    return {"name": WORKFLOW_NAME, "on": {"push": {"branches": [branch]}, "workflow_dispatch": None},
            "permissions": {}, "concurrency": {"group": "pages", "cancel-in-progress": False},
            "jobs": {"build": build_job, "deploy": deploy_job}}


def workflow_text(document: dict[str, Any]) -> str:
    """YAML text of the workflow, with a header saying where it came from and each action's version."""
    header = ("# Written by `grader site --pages-workflow`: builds the course site (landing page and notebooks, no\n"
              "# students' results) and publishes it on GitHub Pages. In the repository's Settings → Pages, set\n"
              "# Source to \"GitHub Actions\": see the course's docs/site.md.\n")
    text = yaml.safe_dump(document, sort_keys=False, width=120, default_flow_style=False)
    for action, version in PAGES_PINNED.items():
        text = text.replace(f"uses: {action}\n", f"uses: {action} # {version}\n")
    for permission, note in PERMISSION_NOTES.items():
        text = text.replace(f" {permission}\n", f" {permission} # {note}\n")
    return header + text.replace("workflow_dispatch: null\n", "workflow_dispatch:\n")


def write_workflow(directory: Path, course: Course, *, force: bool = False, branch: str = "main",
                   package: str = DEFAULT_PACKAGE) -> Path:
    """Write `directory`/.github/workflows/pages.yml (after checking the site's source builds); its path."""
    target = Path(directory) / WORKFLOW_PATH
    if target.exists() and not force:
        raise WorkflowExists(f"{target} already exists; pass --force to replace it")
    if course.site_dir is not None:
        read_source(course.site_dir)  # a source that cannot build is an error now, not on the runner
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(workflow_text(workflow(course, repository=Path(directory), branch=branch, package=package)))
    return target
