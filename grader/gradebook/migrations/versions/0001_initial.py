"""The first gradebook: runs, submissions, check results, overrides.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the four tables and their indexes."""
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40)),
        sa.Column("course_version", sa.String(64), nullable=False),
        sa.Column("grader_version", sa.String(40), nullable=False),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("student", sa.String(200), nullable=False),
        sa.Column("part", sa.String(200), nullable=False),
        sa.Column("notebook_path", sa.Text, nullable=False),
        sa.Column("notebook_name", sa.String(400), nullable=False),
        sa.Column("notebook_sha256", sa.String(64)),
        sa.Column("grading_key", sa.String(64), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("raw_score", sa.Float, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("reused", sa.Boolean, nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.String(40), nullable=False),
    )
    op.create_index("ix_submissions_reuse", "submissions", ["student", "notebook_sha256", "grading_key"])
    op.create_index("ix_submissions_run", "submissions", ["run_id"])
    op.create_table(
        "check_results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("check_key", sa.String(400), nullable=False),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("max_points", sa.Float, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_check_results_submission", "check_results", ["submission_id"])
    op.create_table(
        "overrides",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("student", sa.String(200), nullable=False),
        sa.Column("check_key", sa.String(400), nullable=False),
        sa.Column("points", sa.Float, nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    """Drop every table."""
    for table in ("overrides", "check_results", "submissions", "runs"):
        op.drop_table(table)
