"""The gradebook store: opens (and migrates) the database, and writes each finished submission in one transaction."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

from sqlalchemy import create_engine, event, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from grader.exceptions import GraderError
from grader.gradebook.models import check_results, overrides, runs, submissions
from grader.results import SubmissionResult

DEFAULT_NAME = "gradebook.sqlite"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BUSY_SECONDS = 30  # how long SQLite waits for another writer before it reports the database locked
RETRIES = 5  # further attempts of a write that still found the database locked (or a migration raced)
T = TypeVar("T")


class GradebookError(GraderError):
    """The gradebook cannot be opened or written."""


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def database_url(target: str | Path) -> str:
    """A SQLAlchemy URL for `target`: a URL as given (`postgresql://...`), else a SQLite file path."""
    text = str(target)
    if "://" in text:
        return text.replace("postgresql://", "postgresql+psycopg://", 1) if text.startswith("postgresql://") else text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def open_gradebook(target: str | Path, *, create: bool = True) -> "Gradebook":
    """The gradebook at `target` (a SQLite file, made when absent unless not `create`, or a SQLAlchemy URL), upgraded
    to the newest schema."""
    url = database_url(target)
    if not create and url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
        raise GradebookError(f"no gradebook at {target}: `grader check` records one there (or pass --gradebook)")
    try:
        engine = create_engine(url, connect_args={"timeout": BUSY_SECONDS} if url.startswith("sqlite") else {})
    except (SQLAlchemyError, ImportError, ValueError) as error:
        raise GradebookError(f"cannot open the gradebook {target}: {error}") from None
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine, "connect", _sqlite_settings)
    book = Gradebook(engine, str(target))
    book.retrying(lambda: upgrade(engine))
    return book


def _sqlite_settings(connection: Any, _record: Any) -> None:
    """WAL (readers never block the writer), a busy timeout, and foreign keys enforced, on every connection."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to `revision` with the Alembic scripts shipped in this package."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


class Gradebook:
    """One gradebook database: runs, the submissions each recorded, their check results, and overrides."""

    def __init__(self, engine: Engine, where: str) -> None:
        self.engine, self.where = engine, where

    def retrying(self, work: Callable[[], T]) -> T:
        """`work()`, tried again (with a growing pause) while another process holds the database."""
        for attempt in range(RETRIES + 1):
            try:
                return work()
            except OperationalError as error:
                if attempt == RETRIES:
                    raise GradebookError(f"cannot write the gradebook {self.where}: {error.orig}") from None
                time.sleep(0.2 * 2 ** attempt)
            except SQLAlchemyError as error:
                raise GradebookError(f"gradebook {self.where}: {error}") from None
        raise AssertionError("unreachable")

    def start_run(self, *, course_version: str, grader_version: str, options: dict[str, Any]) -> int:
        """Record a run that starts now; its id."""
        values = dict(started_at=now(), course_version=course_version, grader_version=grader_version,
                      options=json.dumps(options, sort_keys=True), status="running")

        def write() -> int:
            with self.engine.begin() as connection:
                return connection.execute(insert(runs).values(**values)).inserted_primary_key[0]
        return self.retrying(write)

    def finish_run(self, run_id: int, status: str) -> None:
        """Record how a run ended (finished | interrupted | failed)."""
        def write() -> None:
            with self.engine.begin() as connection:
                connection.execute(update(runs).where(runs.c.id == run_id).values(finished_at=now(), status=status))
        self.retrying(write)

    def record(self, run_id: int, result: SubmissionResult, *, sha256: str | None, grading_key: str,
               part: str, reused: bool) -> int:
        """Write one finished submission and its check results in one transaction; the submission's id."""
        document = result.to_dict()
        late = any(record.get("seconds_late", 0) > 0 for record in document.get("late", []))
        row = dict(run_id=run_id, student=result.student, part=part, notebook_path=str(Path(result.path).resolve()),
                   notebook_name=Path(result.path).name, notebook_sha256=sha256, grading_key=grading_key,
                   score=document["score"], raw_score=document.get("raw_score", document["score"]),
                   max_score=document["max_score"], late=late, status=document["status"], error=result.error,
                   reused=reused, result=json.dumps(document), recorded_at=now())
        checks = [dict(check_key=f"{check.part}/{check.name}", points=check.score, max_points=check.max_score,
                       status=check.status.value, message=check.message) for check in result.checks]

        def write() -> int:
            with self.engine.begin() as connection:
                submission_id = connection.execute(insert(submissions).values(**row)).inserted_primary_key[0]
                if checks:
                    connection.execute(insert(check_results), [{**check, "submission_id": submission_id}
                                                               for check in checks])
                return submission_id
        return self.retrying(write)

    def reusable(self, *, student: str, path: Path, sha256: str, grading_key: str) -> dict[str, Any] | None:
        """The newest graded result of this notebook (its file and bytes) for this student under this key."""
        query = (select(submissions.c.result).where(
            submissions.c.student == student, submissions.c.notebook_path == str(Path(path).resolve()),
            submissions.c.notebook_sha256 == sha256, submissions.c.grading_key == grading_key,
            submissions.c.status == "graded").order_by(submissions.c.id.desc()).limit(1))
        with self.engine.connect() as connection:
            found = connection.execute(query).scalar()
        return json.loads(found) if found is not None else None

    def add_overrides(self, rows: list[dict[str, Any]], *, source: str) -> None:
        """Record overrides (student, check_key, points, comment), all in one transaction."""
        stamped = [{**row, "source": source, "recorded_at": now()} for row in rows]

        def write() -> None:
            with self.engine.begin() as connection:
                if stamped:
                    connection.execute(insert(overrides), stamped)
        self.retrying(write)

    def runs(self) -> list[Any]:
        """Every run, oldest first."""
        with self.engine.connect() as connection:
            return list(connection.execute(select(runs).order_by(runs.c.id)))

    def submissions(self, *, run_id: int | None = None, student: str | None = None) -> list[Any]:
        """Recorded submissions (of one run, or one student), in the order recorded."""
        query = select(submissions).order_by(submissions.c.id)
        if run_id is not None:
            query = query.where(submissions.c.run_id == run_id)
        if student is not None:
            query = query.where(submissions.c.student == student)
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def latest(self) -> list[Any]:
        """The newest recorded submission of each student and part."""
        newest = (select(func.max(submissions.c.id)).group_by(submissions.c.student, submissions.c.part)
                  .scalar_subquery())
        query = select(submissions).where(submissions.c.id.in_(newest)).order_by(submissions.c.student,
                                                                                  submissions.c.part)
        with self.engine.connect() as connection:
            return list(connection.execute(query))

    def checks(self, submission_ids: list[int]) -> dict[int, dict[str, Any]]:
        """Check results by submission id, then by check key."""
        found: dict[int, dict[str, Any]] = {number: {} for number in submission_ids}
        if not submission_ids:
            return found
        query = select(check_results).where(check_results.c.submission_id.in_(submission_ids))
        with self.engine.connect() as connection:
            for row in connection.execute(query):
                found[row.submission_id][row.check_key] = row
        return found

    def overrides(self) -> list[Any]:
        """Every override recorded, oldest first (a later one for the same student and check wins)."""
        with self.engine.connect() as connection:
            return list(connection.execute(select(overrides).order_by(overrides.c.id)))

    def close(self) -> None:
        """Release the database's connections."""
        self.engine.dispose()
