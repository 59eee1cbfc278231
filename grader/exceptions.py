"""Every error grader raises on purpose; each subclasses the built-in that fits."""


class GraderError(Exception):
    """Base class: a problem the user can act on, shown as one line without a traceback."""


class ChecksumError(GraderError, ValueError):
    """Downloaded or supplied bytes do not match the published SHA-256."""


class SourceUnavailable(GraderError, ConnectionError):
    """A data source could not be reached or produced nothing usable."""


class DataMissing(GraderError, FileNotFoundError):
    """Prepared data is absent where it should be."""
