"""`grader site`: landing page from a site source and an assignments folder, notebooks to download, reports from a
results folder; `grader site --pages-workflow`: the GitHub Pages workflow that builds and publishes it."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import REPO, run_grader
from grader.course import load_course
from grader.exceptions import GraderError, ResultsUnreadable, WorkflowExists
from grader.pages import DEPLOY_PAGES, PAGES_PINNED, workflow, write_workflow
from grader.report import report_names
from grader.site import DEFAULT_OUT, build_site, markdown_html, read_course, read_source
from report_fixtures import check_golden, element_by_id, example_batch, parse_page

FIXTURE_COURSE = REPO / "tests" / "fixtures" / "course"
SHA_PINNED = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")
SITE_TOML = """title = "Digits *from scratch*"
term = "Spring term"
landing = "welcome.md"
"""
LANDING = """Train a classifier of handwritten digits, one part at a time.

# Before you start

| you need | why |
|---|---|
| Jupyter | to run the notebooks |

<script>document.title = "pwned"</script>
"""
SUBMIT = """Upload each `.ipynb` file, **run from top to bottom**.

# Late work

Ask first.
"""

README = """# Digits *from scratch*

Work through the parts in order; each one builds on the last.

| part | notebook |
|---|---|
| Warm-up | [`warmup/warmup.ipynb`](warmup/warmup.ipynb) |
| Pixels | [`pixels/pixels.ipynb`](pixels/pixels.ipynb) |
| Still being written | `planned` |
"""


def write_notebook(path: Path, cells: list) -> None:
    """A small notebook on disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=cells), path)


@pytest.fixture
def assignments(tmp_path) -> Path:
    """Three parts: two notebooks (named in the README's order, not alphabetically), one with only its checks."""
    folder = tmp_path / "assignments"
    write_notebook(folder / "pixels" / "pixels.ipynb", [
        new_markdown_cell("# Part 1: pixel similarity\n\nAverage the 3s into an **ideal** 3 and compare with `mean3`."),
        new_code_cell("mean3 = ...  # YOUR CODE HERE"),
        new_markdown_cell("## Stacking the images\n\nStack them."),
        new_markdown_cell("## The ideal digits\n\n### A detail that is not a section")])
    quiz_cell = new_markdown_cell("")
    quiz_cell.metadata["tags"] = ["q01"]
    second = new_markdown_cell("")
    second.metadata["tags"] = ["q02"]
    write_notebook(folder / "warmup" / "warmup.ipynb", [new_markdown_cell("# Warm-up questions\n\nTwo questions."),
                                                        quiz_cell, second])
    (folder / "planned").mkdir()
    (folder / "planned" / "checks.py").write_text(
        "from grader.checks import Assignment, Check, Value, comparison\n"
        "ASSIGNMENT = Assignment(name='planned', title='Training loops', "
        "checks=(Check('answer', 3, Value('answer'), comparison('equal')),))\n")
    (folder / "README.md").write_text(README)
    (folder / "__pycache__").mkdir()
    return folder


@pytest.fixture
def source(tmp_path) -> Path:
    """A site source: settings, a landing text under a name of its own, the submission text under its default name."""
    folder = tmp_path / "site-source"
    folder.mkdir()
    (folder / "site.toml").write_text(SITE_TOML, encoding="utf-8")
    (folder / "welcome.md").write_text(LANDING, encoding="utf-8")
    (folder / "submit.md").write_text(SUBMIT, encoding="utf-8")
    return folder


@pytest.fixture
def results(data_dir, tmp_path) -> Path:
    """A results folder as `grader check --out` leaves it."""
    folder = tmp_path / "graded"
    folder.mkdir()
    example_batch(data_dir).write_json(folder / "results.json")
    return folder


def test_site_command_builds_landing_page_notebooks_and_reports(assignments, source, results, tmp_path, data_dir,
                                                                request):
    site = tmp_path / "site"
    done = run_grader("site", "--out", str(site), "--results", str(results), "--assignments", str(assignments),
                      "--source", str(source))
    assert done.returncode == 0, done.stderr
    assert str(site / "index.html") in done.stdout
    for part in ("pixels", "warmup"):
        assert (site / "notebooks" / f"{part}.ipynb").read_bytes() == (assignments / part / f"{part}.ipynb").read_bytes()
    batch = example_batch(data_dir)
    assert all((site / "results" / name).is_file() for name in report_names(batch))
    summary = parse_page((site / "results" / "index.html").read_text(encoding="utf-8"))
    assert any(e.tag == "a" and e.attrs.get("href") == "../index.html" for e in summary)
    html = (site / "index.html").read_text(encoding="utf-8")
    check_golden("site/index.html", html, update=request.config.getoption("--update-golden"))
    elements = parse_page(html)
    links = [e.attrs["href"] for e in elements if e.tag == "a" and "href" in e.attrs]
    assert all((site / link.split("#")[0]).is_file() for link in links if not link.startswith("#"))
    assert [e.attrs["id"] for e in elements if e.tag == "li" and e.attrs.get("id", "").startswith("part-")] == [
        "part-warmup", "part-pixels", "part-planned"]
    assert "Training loops planned · 3 points" in element_by_id(elements, "part-planned").text
    assert "not available yet" in element_by_id(elements, "part-planned").text
    pixels = element_by_id(elements, "part-pixels").text
    assert "Stacking the images" in pixels and "The ideal digits" in pixels and "A detail" not in pixels
    assert "2 questions to answer" in element_by_id(elements, "part-warmup").text
    titles = [e.text for e in elements if e.tag in ("title", "h1")]
    assert titles == ["Digits from scratch · Spring term", "Digits from scratch"]
    assert element_by_id(elements, "term").text == "Spring term"
    landing = element_by_id(elements, "landing")
    assert "one part at a time" in landing.text and "Jupyter to run the notebooks" in landing.text
    headings = [(e.tag, e.text) for e in elements if re.fullmatch(r"h\d", e.tag)]
    assert headings.index(("h2", "Before you start")) < headings.index(("h2", "Parts")) < \
        headings.index(("h2", "How to submit")) < headings.index(("h3", "Late work"))
    assert "run from top to bottom" in element_by_id(elements, "submit").text
    assert not any(e.tag == "script" and "pwned" in e.text for e in elements)
    assert 'document.title = &quot;pwned&quot;' in html  # raw HTML in a text is shown as text


def test_site_without_results_lists_the_parts_only(assignments, tmp_path):
    written = build_site(out_dir=tmp_path / "site", assignments_dir=assignments)
    assert sorted(p.relative_to(tmp_path / "site").as_posix() for p in written) == [
        "index.html", "notebooks/pixels.ipynb", "notebooks/warmup.ipynb"]
    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    assert "Class summary" not in html and "How to submit" not in html
    elements = parse_page(html)  # without a source, title and introduction come from the assignments README
    assert [e.text for e in elements if e.tag == "h1"] == ["Digits from scratch"]
    assert any(e.tag == "p" and e.text == "Work through the parts in order; each one builds on the last."
               for e in elements)


def test_the_chapter_course_builds_from_its_site_folder_into_the_default_build_folder(tmp_path):
    course = load_course(REPO)
    assert course.site_dir == REPO / "site"
    source_files = sorted(path.name for path in (REPO / "site").iterdir())
    done = run_grader("--course", str(REPO), "site", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    built = tmp_path / DEFAULT_OUT
    elements = parse_page((built / "index.html").read_text(encoding="utf-8"))
    settings = read_source(REPO / "site")
    assert [e.text for e in elements if e.tag == "h1"] == [settings.title]
    assert "How to work on a part" in element_by_id(elements, "landing").text
    assert "Autograding Tests" in element_by_id(elements, "submit").text
    parts = sorted(course.assignments)
    assert sorted(e.attrs["id"] for e in elements if e.attrs.get("id", "").startswith("part-")) == \
        sorted(f"part-{part.replace('_', '-')}" for part in parts)
    downloads = [e.attrs["href"] for e in elements if e.tag == "a" and "download" in e.attrs]
    assert sorted(downloads) == sorted(f"notebooks/{part}.ipynb" for part in parts)
    assert all((built / href).is_file() for href in downloads)
    assert sorted(path.name for path in (REPO / "site").iterdir()) == source_files  # the source is left alone


def test_markdown_texts_render_without_raw_html_and_with_headings_moved_down():
    html = markdown_html("# Set-up\n\n## Details\n\n<img src=x onerror=alert(1)> [a](javascript:alert(1)) "
                         "[notes](notes.html)\n", top=3)
    elements = parse_page(html)
    assert [(e.tag, e.text) for e in elements if e.tag in ("h3", "h4")] == [("h3", "Set-up"), ("h4", "Details")]
    assert not any(e.tag == "img" for e in elements) and "&lt;img src=x" in html
    assert [e.attrs.get("href") for e in elements if e.tag == "a"] == ["notes.html"]


@pytest.mark.parametrize("settings, files, message", [
    ('term = "Spring"\n', {}, "has no title"),
    ('title = "  "\n', {}, "has no title"),
    ('title = "T"\nsubtitle = "x"\n', {}, "unknown setting subtitle"),
    ('title = 3\n', {}, "title must be text"),
    ('title = "T\n', {}, "cannot read"),
    ('title = "T"\nlanding = "nowhere.md"\n', {}, "cannot read the landing text"),
    ('title = "T"\n', {"submit.md": b"\xff\xfe not text"}, "cannot read the submit text"),
    (None, {"index.html": b"<html></html>"}, "has no site.toml (it looks like a built site"),
])
def test_a_bad_source_is_one_clear_error(tmp_path, settings, files, message):
    folder = tmp_path / "source"
    folder.mkdir()
    if settings is not None:
        (folder / "site.toml").write_text(settings, encoding="utf-8")
    for name, content in files.items():
        (folder / name).write_bytes(content)
    with pytest.raises(GraderError, match=re.escape(message)) as raised:
        read_source(folder)
    assert "\n" not in str(raised.value)


def test_site_command_refuses_a_bad_source_in_one_line(assignments, source, tmp_path):
    (source / "site.toml").write_text('term = "Spring"\n', encoding="utf-8")
    done = run_grader("site", "--out", str(tmp_path / "built"), "--assignments", str(assignments),
                      "--source", str(source))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "has no title" in done.stderr, done.stderr
    assert not (tmp_path / "built").exists()
    inside = run_grader("site", "--out", str(source / "built"), "--assignments", str(assignments),
                        "--source", str(source.parent / "source-copy"))
    assert inside.returncode == 2 and "does not exist" in inside.stderr


def test_building_into_the_source_folder_is_refused(assignments, source):
    with pytest.raises(GraderError, match="inside the site's source folder"):
        build_site(out_dir=source / "out", assignments_dir=assignments, source=source)
    assert not (source / "out").exists()


def test_course_toml_names_the_source_folder(tmp_path):
    (tmp_path / "assignments").mkdir()
    (tmp_path / "course.toml").write_text('[course]\ntitle = "A course"\n')
    assert load_course(tmp_path).site_dir is None  # no site/ folder, none named: built from the assignments alone
    (tmp_path / "site").mkdir()
    assert load_course(tmp_path).site_dir == tmp_path / "site"
    (tmp_path / "course.toml").write_text('[course]\ntitle = "A course"\n\n[site]\nsource = "pages"\n')
    assert load_course(tmp_path).site_dir == tmp_path / "pages"
    done = run_grader("--course", str(tmp_path), "site", "--out", str(tmp_path / "built"))
    assert done.returncode == 2
    assert "pages does not exist" in " ".join(done.stderr.split()) and "Traceback" not in done.stderr




def test_course_reads_title_and_introduction_from_the_readme(assignments):
    course = read_course(assignments)
    assert course.title == "Digits *from scratch*"
    assert course.introduction == "Work through the parts in order; each one builds on the last."
    (assignments / "README.md").unlink()
    assert read_course(assignments).title == "Course assignments"
    assert [part.name for part in read_course(assignments).parts] == ["pixels", "planned", "warmup"]


def test_site_command_explains_a_missing_results_file(assignments, tmp_path):
    done = run_grader("site", "--out", str(tmp_path / "site"), "--results", str(tmp_path),
                      "--assignments", str(assignments))
    assert done.returncode == 2
    message = " ".join(done.stderr.split())  # the console may wrap the line
    assert "results.json does not exist" in message and "Traceback" not in message


def test_results_from_another_schema_are_refused(assignments, tmp_path):
    (tmp_path / "results.json").write_text(json.dumps({"schema_version": 99, "submissions": []}))
    with pytest.raises(ResultsUnreadable, match="schema_version"):
        build_site(out_dir=tmp_path / "site", assignments_dir=assignments, results=tmp_path / "results.json")


def test_a_missing_assignments_folder_is_an_error(tmp_path):
    with pytest.raises(GraderError, match="does not exist"):
        build_site(out_dir=tmp_path / "site", assignments_dir=tmp_path / "nowhere")


def pages_steps(document: dict, job: str) -> list[dict]:
    """The steps of one job of the Pages workflow."""
    return document["jobs"][job]["steps"]


@pytest.fixture(scope="module")
def pages_workflow(tmp_path_factory) -> Path:
    """The Pages workflow written by the real command for the chapter course."""
    directory = tmp_path_factory.mktemp("course-repository")
    done = run_grader("site", "--pages-workflow", str(directory))
    assert done.returncode == 0, done.stderr
    return directory / ".github" / "workflows" / "pages.yml"


def test_pages_workflow_builds_the_site_and_deploys_it_with_least_privilege(pages_workflow):
    text = pages_workflow.read_text()
    document = yaml.safe_load(text)
    assert set(document["on"]) == {"push", "workflow_dispatch"} and document["on"]["push"] == {"branches": ["main"]}
    assert document["permissions"] == {} and document["concurrency"]["cancel-in-progress"] is False
    assert list(document["jobs"]) == ["build", "deploy"]
    build, deploy = document["jobs"]["build"], document["jobs"]["deploy"]
    assert build["permissions"] == {"contents": "read", "pages": "read"}
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"} and deploy["needs"] == "build"
    assert deploy["environment"] == {"name": "github-pages", "url": "${{ steps.deployment.outputs.page_url }}"}
    assert "env" not in build  # the course is the repository's root folder
    steps = pages_steps(document, "build")
    assert [step["uses"].split("@")[0] for step in steps if "uses" in step] == [
        "actions/checkout", "actions/configure-pages", "actions/setup-python", "actions/upload-pages-artifact"]
    assert steps[0]["with"] == {"persist-credentials": False}
    runs = [step["run"] for step in steps if "run" in step]
    assert runs == ["python -m pip install .", f"grader site --out {DEFAULT_OUT}"]
    assert steps[-1]["with"] == {"path": DEFAULT_OUT}
    assert [step["uses"] for step in pages_steps(document, "deploy")] == [DEPLOY_PAGES]
    uses = [step["uses"] for job in ("build", "deploy") for step in pages_steps(document, job) if "uses" in step]
    assert all(SHA_PINNED.match(action) for action in uses), uses
    assert all(f"uses: {action} # {PAGES_PINNED[action]}\n" in text for action in uses)


def test_zizmor_finds_nothing_in_the_pages_workflow(pages_workflow):
    zizmor = shutil.which("zizmor", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert zizmor, "zizmor is a test dependency (pip install -e '.[test]')"
    for persona in ("regular", "pedantic"):
        done = subprocess.run([zizmor, "--offline", "--persona", persona, "--format", "plain", str(pages_workflow)],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "No findings to report" in done.stdout + done.stderr


def test_pages_workflow_points_at_a_course_in_a_subfolder():
    course = load_course(FIXTURE_COURSE)
    document = workflow(course, repository=REPO, branch="trunk")
    assert document["jobs"]["build"]["env"] == {"GRADER_COURSE": "tests/fixtures/course"}
    assert document["on"]["push"] == {"branches": ["trunk"]}


def test_pages_workflow_is_not_overwritten_without_force_nor_written_for_a_bad_source(tmp_path):
    target = tmp_path / ".github" / "workflows" / "pages.yml"
    target.parent.mkdir(parents=True)
    target.write_text("name: mine\n")
    refused = run_grader("site", "--pages-workflow", str(tmp_path))
    assert refused.returncode == 2 and "already exists" in refused.stderr and "--force" in refused.stderr
    assert target.read_text() == "name: mine\n"
    results = run_grader("site", "--pages-workflow", str(tmp_path), "--force", "--results", str(tmp_path))
    assert results.returncode == 2 and "results" in results.stderr and target.read_text() == "name: mine\n"
    forced = run_grader("site", "--pages-workflow", str(tmp_path), "--force", "--package", "grader==0.1.0")
    assert forced.returncode == 0, forced.stderr
    assert "python -m pip install grader==0.1.0" in target.read_text()
    bad = tmp_path / "bad-source"
    bad.mkdir()
    (bad / "site.toml").write_text('term = "Spring"\n')
    with pytest.raises(GraderError, match="has no title"):
        write_workflow(tmp_path / "other", replace(load_course(REPO), site_dir=bad))
    assert not (tmp_path / "other").exists()
    with pytest.raises(WorkflowExists):
        write_workflow(tmp_path, load_course(REPO))
