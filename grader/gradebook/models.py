"""The gradebook's tables (SQLAlchemy Core): runs, submissions, check results and overrides."""
from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, ForeignKey, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("started_at", String(40), nullable=False),  # ISO 8601, UTC
    Column("finished_at", String(40)),  # None while it runs, or when it was killed
    Column("course_version", String(64), nullable=False),  # SHA-256 of the course's code files
    Column("grader_version", String(40), nullable=False),
    Column("options", Text, nullable=False),  # JSON: the options that decide results (seed, timeouts, sandbox, ...)
    Column("status", String(20), nullable=False),  # running | finished | interrupted | failed
)

submissions = Table(
    "submissions", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("student", String(200), nullable=False),
    Column("part", String(200), nullable=False),  # the assignment ('' when it could not be told)
    Column("notebook_path", Text, nullable=False),  # absolute
    Column("notebook_name", String(400), nullable=False),  # the file name, which (with the bytes) decides the part
    Column("notebook_sha256", String(64)),  # None when the file could not be read
    Column("grading_key", String(64), nullable=False),  # SHA-256 of course version + options: equal keys reuse
    Column("score", Float, nullable=False),  # the grade (after any late penalty), overrides not applied
    Column("raw_score", Float, nullable=False),  # before any late penalty
    Column("max_score", Float, nullable=False),
    Column("late", Boolean, nullable=False),
    Column("status", String(20), nullable=False),  # graded | error
    Column("error", Text),
    Column("reused", Boolean, nullable=False),
    Column("result", Text, nullable=False),  # SubmissionResult.to_dict() as JSON
    Column("recorded_at", String(40), nullable=False),
)
Index("ix_submissions_reuse", submissions.c.student, submissions.c.notebook_sha256, submissions.c.grading_key)
Index("ix_submissions_run", submissions.c.run_id)

check_results = Table(
    "check_results", metadata,
    Column("id", Integer, primary_key=True),
    Column("submission_id", Integer, ForeignKey("submissions.id", ondelete="CASCADE"), nullable=False),
    Column("check_key", String(400), nullable=False),  # part/name
    Column("points", Float, nullable=False),
    Column("max_points", Float, nullable=False),
    Column("status", String(20), nullable=False),
    Column("message", Text, nullable=False),
)
Index("ix_check_results_submission", check_results.c.submission_id)

overrides = Table(
    "overrides", metadata,
    Column("id", Integer, primary_key=True),
    Column("student", String(200), nullable=False),
    Column("check_key", String(400), nullable=False),  # a check's name, or part/name
    Column("points", Float, nullable=False),
    Column("comment", Text, nullable=False),
    Column("source", Text, nullable=False),  # the file it came from
    Column("recorded_at", String(40), nullable=False),
)
