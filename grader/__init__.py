"""grader: run students' notebooks, compare their tensors with a reference, and report."""

__version__ = "0.1.0"
