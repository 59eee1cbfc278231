"""The terminal table: per-check rows for small batches, hidden checks without their details."""
from rich.console import Console

from grader.emitters.table import emit
from grader.results import BatchResult, CheckResult, Status, SubmissionResult, Visibility


def test_hidden_check_shows_its_result_but_not_its_message(tmp_path):
    checks = [CheckResult("mean3", "baseline", 2, 2, Status.PASSED, "matches the reference"),
              CheckResult("broadcast", "baseline", 0, 2, Status.FAILED, "shape (2, 28) but expected (2, 3)",
                          visibility=Visibility.HIDDEN)]
    console = Console(record=True, width=200)
    assert emit(BatchResult([SubmissionResult("a.ipynb", "ada", "baseline", checks)]), out_dir=tmp_path,
                console=console) == []
    printed = console.export_text()
    assert "matches the reference" in printed and "2/4" in printed
    assert "broadcast" in printed and "failed" in printed and "hidden check" in printed
    assert "(2, 28)" not in printed
