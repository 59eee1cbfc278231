"""grader: run students' notebooks, compare their tensors with a reference, and report."""

__version__ = "0.1.0"


def check(part: str, **options):
    """Self-check one assignment part from inside its notebook (a preview, not the grade); see grader.selfcheck."""
    from grader.selfcheck import check as run_check

    return run_check(part, **options)
