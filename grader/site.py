"""`grader site`: the course's static site: a landing page with each part's notebook, plus reports when graded.

The site is built from a source folder (`site/` in the course, or course.toml `[site] source`) into a
build folder (`_site/` by default, git-ignored). The source holds `site.toml` and Markdown texts:

    title = "My course"          # required: the page's title
    term = "Spring term"         # optional: shown beside the title
    landing = "landing.md"       # optional (this default is used when the file exists): text above the parts
    submit = "submit.md"         # optional (likewise): the "How to submit" section below the parts

Markdown is rendered without raw HTML (it is shown as text); `#` in landing.md becomes a section heading
of the page (h2), and in submit.md a heading under "How to submit" (h3). Without a source folder the
title and introduction come from the assignments README.
"""
from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
from markupsafe import Markup

from grader.exceptions import GraderError, ResultsUnreadable
from grader.results import BatchResult

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

NOTEBOOKS_FOLDER = "notebooks"
RESULTS_FOLDER = "results"
SOURCE_FILE = "site.toml"
DEFAULT_OUT = "_site"  # also where actions/upload-pages-artifact looks by default
TEXTS = {"landing": ("landing.md", 2), "submit": ("submit.md", 3)}  # setting: default file, level of its `#`
SETTINGS = ("title", "term", *TEXTS)
QUESTION_TAG = re.compile(r"^q\d+$")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


@dataclass(frozen=True)
class PartPage:
    """What the landing page says about one part."""

    name: str
    title: str
    summary: str
    sections: list[str]
    questions: int
    points: float | None
    notebook_href: str | None
    problem: str = ""


@dataclass(frozen=True)
class Course:
    """Title, introduction and parts, read from the assignments folder."""

    title: str
    introduction: str
    parts: list[PartPage]


@dataclass(frozen=True)
class SiteSource:
    """What the site's source folder says: title, term, and the landing and submission texts as HTML."""

    folder: Path
    title: str
    term: str = ""
    landing: Markup | None = None
    submit: Markup | None = None


def build_site(*, out_dir: Path, assignments_dir: Path, results: Path | None = None,
               source: Path | None = None, gradebook: str | None = None) -> list[Path]:
    """Write the landing page, copy each part's notebook, and (given `results`) the reports and class summary.

    `source` is the site's source folder (see the module docstring); None builds from the assignments alone.
    `gradebook` (a SQLite file or SQLAlchemy URL) adds the whole course's latest scores to the class summary, and
    without `results` gives the results too: each student's latest per part.
    """
    from grader.emitters import html
    from grader.report import render_page

    assignments_dir = Path(assignments_dir)
    if not assignments_dir.is_dir():
        raise GraderError(f"assignments folder {assignments_dir} does not exist; pass --assignments DIR")
    out_dir = Path(out_dir)
    site = read_source(Path(source)) if source is not None else None
    if site is not None and out_dir.resolve().is_relative_to(site.folder.resolve()):
        raise GraderError(f"{out_dir} is inside the site's source folder {site.folder}; build somewhere else "
                          f"(--out, default {DEFAULT_OUT})")
    batch = read_results(results) if results is not None else None
    course_view = None
    if gradebook is not None:
        batch, course_view = from_gradebook(gradebook, batch)
    out_dir.mkdir(parents=True, exist_ok=True)
    course = read_course(assignments_dir)
    written = copy_notebooks(assignments_dir, out_dir / NOTEBOOKS_FOLDER, course.parts)
    if batch is not None:
        written += html.emit(batch, out_dir=out_dir / RESULTS_FOLDER, home_href="../index.html", course=course_view)
    landing = out_dir / "index.html"
    landing.write_text(render_page("landing.html.j2", course=course, site=site, batch=batch,
                                   title=site.title if site else course.title, term=site.term if site else "",
                                   summary_href=f"{RESULTS_FOLDER}/index.html" if batch else None), encoding="utf-8")
    return [landing, *written]


def read_source(folder: Path) -> SiteSource:
    """The site's settings and texts from its source folder; a GraderError (one line) for anything amiss."""
    settings_file = folder / SOURCE_FILE
    if not folder.is_dir():
        raise GraderError(f"the site's source folder {folder} does not exist (course.toml [site] source, or --source)")
    if not settings_file.is_file():
        built = " (it looks like a built site: move it away)" if (folder / "index.html").is_file() else ""
        raise GraderError(f"{folder} has no {SOURCE_FILE}{built}; write one with at least title = \"...\"")
    try:
        settings = tomllib.loads(settings_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise GraderError(f"cannot read {settings_file}: {_one_line(error)}") from None
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise GraderError(f"{settings_file}: unknown setting {', '.join(unknown)} (known: {', '.join(SETTINGS)})")
    wrong = [key for key in SETTINGS if key in settings and not isinstance(settings[key], str)]
    if wrong:
        raise GraderError(f"{settings_file}: {', '.join(wrong)} must be text (in quotes)")
    title = settings.get("title", "").strip()
    if not title:
        raise GraderError(f"{settings_file} has no title; add a line such as title = \"My course\"")
    texts = {key: _text(folder, settings, key) for key in TEXTS}
    return SiteSource(folder, title, settings.get("term", "").strip(), **texts)


def _text(folder: Path, settings: dict, key: str) -> Markup | None:
    """One Markdown text named in site.toml (or found under its default name) as HTML; None when there is none."""
    default, level = TEXTS[key]
    path = folder / settings.get(key, default)
    if key not in settings and not path.exists():
        return None
    try:
        return markdown_html(path.read_text(encoding="utf-8"), top=level)
    except (OSError, UnicodeDecodeError) as error:
        raise GraderError(f"cannot read the {key} text {path} ({folder / SOURCE_FILE}): {_one_line(error)}") from None


def markdown_html(text: str, *, top: int = 2) -> Markup:
    """CommonMark (with tables) as HTML; raw HTML is shown as text; `#` becomes h`top`, `##` the level below."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(text)
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + top - 1, 6)}"
    return Markup(parser.renderer.render(tokens, parser.options, {}))


def _one_line(error: Exception) -> str:
    """An error's message on one line."""
    return " ".join(str(error).split())


def read_results(results: Path) -> BatchResult:
    """A results folder's `results.json` (or the file itself)."""
    path = Path(results)
    path = path / "results.json" if path.is_dir() else path
    if not path.is_file():
        raise ResultsUnreadable(f"{path} does not exist; run `grader check ... --out DIR` first and pass that DIR")
    try:
        return BatchResult.read_json(path)
    except (ValueError, KeyError, TypeError) as error:
        raise ResultsUnreadable(f"{path} is not a grader results file: {error}") from error


def from_gradebook(target: str, batch: BatchResult | None):
    """The gradebook's grid of latest results, and `batch` (when None: a batch of those latest results)."""
    from grader.gradebook.store import open_gradebook
    from grader.gradebook.views import latest_grid

    book = open_gradebook(target, create=False)
    try:
        grid = latest_grid(book)
    finally:
        book.close()
    return batch or BatchResult([entry.result for entry in grid.entries.values()]), grid


def read_course(assignments_dir: Path) -> Course:
    """The course as the assignments folder describes it: README for title and order, notebooks for the rest."""
    readme = assignments_dir / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    title, introduction = _title_and_paragraph(text)
    folders = sorted(path.name for path in assignments_dir.iterdir()
                     if path.is_dir() and not path.name.startswith((".", "_")))
    mentioned = _parts_mentioned(text, folders)
    names = mentioned + [name for name in folders if name not in mentioned]
    specs = _assignment_specs(assignments_dir)
    parts = [part_page(assignments_dir / name, spec=specs.get(name)) for name in names]
    return Course(title or "Course assignments", introduction, [part for part in parts if part is not None])


def part_page(folder: Path, *, spec) -> PartPage | None:
    """One part from its folder's notebook (None for a folder that is not a part); problems become notes."""
    notebook = folder / f"{folder.name}.ipynb"
    points = spec.max_score if spec is not None else None
    if not notebook.is_file():
        if spec is None:
            return None
        return PartPage(folder.name, spec.title, "", [], 0, points, None,
                        problem="The notebook for this part is not available yet.")
    try:
        cells = nbformat.read(notebook, as_version=4).cells
    except (OSError, ValueError) as error:
        return PartPage(folder.name, spec.title if spec else folder.name, "", [], 0, points, None,
                        problem=f"The notebook could not be read: {error}")
    markdown = "\n\n".join(cell.source for cell in cells if cell.cell_type == "markdown")
    title, summary = _title_and_paragraph(markdown)
    sections = [match.group(2) for line in markdown.splitlines()
                if (match := HEADING.match(line)) and len(match.group(1)) == 2]
    questions = sum(any(QUESTION_TAG.match(tag) for tag in cell.metadata.get("tags", [])) for cell in cells)
    return PartPage(folder.name, (spec.title if spec else "") or title or folder.name, summary, sections,
                    questions, points, f"{NOTEBOOKS_FOLDER}/{notebook.name}")


def copy_notebooks(assignments_dir: Path, target: Path, parts: list[PartPage]) -> list[Path]:
    """Copy each available part's notebook into the site for download."""
    written = []
    for part in parts:
        if part.notebook_href:
            target.mkdir(parents=True, exist_ok=True)
            written.append(Path(shutil.copyfile(assignments_dir / part.name / f"{part.name}.ipynb",
                                                target / f"{part.name}.ipynb")))
    return written


def _assignment_specs(assignments_dir: Path) -> dict:
    """Check specs by part (for titles and points); none when they cannot be loaded."""
    from grader.discover import load_assignments

    try:
        return load_assignments(assignments_dir.resolve())
    except (GraderError, ImportError, SyntaxError, ValueError):
        return {}


def _title_and_paragraph(markdown: str) -> tuple[str, str]:
    """The first heading's text and the first paragraph that is not a heading, list or table."""
    title, paragraph = "", ""
    for block in re.split(r"\n\s*\n", markdown):
        block = block.strip()
        heading = HEADING.match(block.splitlines()[0]) if block else None
        if heading and not title:
            title = heading.group(2)
        elif block and not heading and not paragraph and block[0] not in "|-*>`<!":
            paragraph = " ".join(line.strip() for line in block.splitlines())
    return title, paragraph


def _parts_mentioned(text: str, folders: list[str]) -> list[str]:
    """Folder names in the order the README links their notebooks, then in the order it first names them."""
    def first(pattern: str) -> dict[str, int]:
        found = {name: re.search(pattern.format(re.escape(name)), text) for name in folders}
        return {name: match.start() for name, match in found.items() if match}

    linked, named = first(r"{0}/{0}\.ipynb"), first(r"(?<![\w-]){0}(?![\w-])")
    return sorted(linked, key=linked.get) + sorted(set(named) - set(linked), key=named.get)

