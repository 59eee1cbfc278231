"""The chapter course's own errors, about getting and checking MNIST; each is a GraderError the CLI shows in one line."""
from grader.checks import GraderError


class ChecksumError(GraderError, ValueError):
    """Downloaded or supplied bytes do not match the published SHA-256."""


class SourceUnavailable(GraderError, ConnectionError):
    """A data source could not be reached or produced nothing usable."""


class DataMissing(GraderError, FileNotFoundError):
    """Prepared data is absent where it should be."""
