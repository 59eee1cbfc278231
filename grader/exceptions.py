"""Every error grader raises on purpose; each subclasses the built-in that fits."""


class GraderError(Exception):
    """Base class: a problem the user can act on, shown as one line without a traceback."""


class WorkflowExists(GraderError, FileExistsError):
    """A workflow file is already there and overwriting it was not asked for."""


class NoSuchAssignment(GraderError, ValueError):
    """An assignment was named (on the command line, in a self-check) that the course does not have."""


class SubmissionError(GraderError):
    """One submission cannot be graded (the batch goes on; the message lands in its results)."""


class NotANotebook(SubmissionError, ValueError):
    """The file is not a readable Jupyter notebook (malformed JSON, wrong structure)."""


class UnknownAssignment(SubmissionError, LookupError):
    """Neither the notebook's metadata nor its file name names a known assignment."""


class KernelFailed(SubmissionError, RuntimeError):
    """The kernel could not be started or died before the student's first cell."""


class ReferenceFailed(SubmissionError, RuntimeError):
    """The reference value of a check could not be computed (a grader-side problem, e.g. missing data)."""


class ResultsUnreadable(GraderError, ValueError):
    """A results folder has no `results.json`, or the file is not one grader wrote."""


class OverrideError(GraderError, ValueError):
    """An instructor override file is malformed or names a student, check or score that does not fit."""
