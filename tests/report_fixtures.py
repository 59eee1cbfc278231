"""Fixtures for report tests: a fixed, realistic class of results (every status, hidden checks, partial
credit, an override, an execution problem, questionnaire answers (one hostile), all three figure kinds
drawn from real MNIST pixels, a submission that could not be graded) and golden-file comparison."""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import re
from html.parser import HTMLParser

import numpy as np

from grader.results import (Answer, BatchResult, CheckResult, ExecutionProblem, Figure, Status,
                            SubmissionResult, Visibility)
from reference.tensor_cache import load_split

GOLDEN = Path(__file__).parent / "golden"
EMBEDDED_PNG = re.compile(r"data:image/png;base64,[A-Za-z0-9+/=]+")
CREATED = "2024-05-06T09:00:00+00:00"
HOSTILE_ANSWER = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\"> & more"
# A 20-epoch linear run and the reference's, as recorded by a training loop (loss per epoch, valid accuracy).
REFERENCE_LOSS = [0.4418, 0.2195, 0.1463, 0.1120, 0.0927, 0.0803, 0.0716, 0.0652, 0.0603, 0.0564,
                  0.0533, 0.0507, 0.0485, 0.0466, 0.0450, 0.0436, 0.0424, 0.0413, 0.0403, 0.0394]
STUDENT_LOSS = [0.4976, 0.3881, 0.3112, 0.2574, 0.2190, 0.1907, 0.1692, 0.1524, 0.1391, 0.1283,
                0.1193, 0.1118, 0.1054, 0.0999, 0.0951, 0.0909, 0.0872, 0.0839, 0.0810, 0.0783]
REFERENCE_ACCURACY = [0.8968, 0.9365, 0.9536, 0.9614, 0.9658, 0.9678, 0.9702, 0.9712, 0.9727, 0.9741,
                      0.9751, 0.9761, 0.9765, 0.9770, 0.9775, 0.9780, 0.9780, 0.9785, 0.9785, 0.9790]
STUDENT_ACCURACY = [0.6817, 0.7962, 0.8541, 0.8870, 0.9071, 0.9194, 0.9282, 0.9346, 0.9390, 0.9434,
                    0.9468, 0.9497, 0.9517, 0.9541, 0.9561, 0.9575, 0.9590, 0.9604, 0.9614, 0.9624]


def ideal_digits(data_dir: Path) -> dict[str, np.ndarray]:
    """Real mean 3 and 7 of MNIST_SAMPLE's training set, and a student's 3 made from only the first 100 images."""
    train = load_split(data_dir, "mnist_sample", "train")
    threes = train.of_digit(3).numpy().astype(np.int64)
    sevens = train.of_digit(7).numpy().astype(np.int64)
    return {"mean3": threes.sum(0) / len(threes) / 255, "mean7": sevens.sum(0) / len(sevens) / 255,
            "student_mean3": threes[:100].sum(0) / 100 / 255}


def nearest_mean_confusion(data_dir: Path) -> list[list[int]]:
    """Confusion matrix of the 10-digit pixel-similarity classifier (L1 to each digit's mean) on MNIST's test set.

    Distances use exact integer sums (n·x − Σ) so the result is the same on every machine.
    """
    train = load_split(data_dir, "mnist_png", "training")
    test = load_split(data_dir, "mnist_png", "testing")
    images = test.images.reshape(len(test.images), -1).numpy().astype(np.int64)
    distances = []
    for digit in range(10):
        digit_images = train.of_digit(digit).reshape(-1, 784).numpy().astype(np.int64)
        count, total = len(digit_images), digit_images.sum(0)
        distances.append(np.abs(images * count - total).sum(1) / count)
    predicted = np.argmin(np.stack(distances, 1), 1)
    matrix = np.zeros((10, 10), dtype=np.int64)
    np.add.at(matrix, (test.labels.numpy(), predicted), 1)
    return matrix.tolist()


def _check(name: str, part: str, score: float, max_score: float, status: Status, message: str, **extra) -> CheckResult:
    """A CheckResult with a fixed timing."""
    return CheckResult(name=name, part=part, score=score, max_score=max_score, status=status, message=message,
                       seconds=0.01, **extra)


def _tensor_facts(student: np.ndarray, reference: np.ndarray, *, atol: float) -> dict:
    """The diagnostics a tensor comparison reports."""
    difference = np.abs(student - reference)
    return {"shape": list(student.shape), "expected_shape": list(reference.shape), "dtype": "torch.float32",
            "expected_dtype": "torch.float32", "max_abs_error": float(difference.max()),
            "max_rel_error": float((difference / np.maximum(np.abs(reference), 1e-12)).max()),
            "mismatched_fraction": float((difference > atol).mean())}


def baseline_checks(digits: dict[str, np.ndarray], *, student_mean3: np.ndarray) -> list[CheckResult]:
    """The baseline part for one student: real ideal digits, one check hidden."""
    facts = _tensor_facts(student_mean3, digits["mean3"], atol=1e-4)
    same = facts["mismatched_fraction"] == 0
    picture = Figure("images", "Ideal 3", {"images": {
        "your mean3": student_mean3.tolist(), "reference mean3": digits["mean3"].tolist(),
        "difference (yours − reference)": (student_mean3 - digits["mean3"]).tolist()}})
    return [
        _check("stacked_threes", "baseline", 1, 1, Status.PASSED, "matches the reference",
               diagnostics={"shape": [6131, 28, 28], "expected_shape": [6131, 28, 28], "dtype": "torch.float32",
                            "expected_dtype": "torch.float32", "max_abs_error": 0.0, "mismatched_fraction": 0.0}),
        _check("mean3", "baseline", 2 if same else 0, 2, Status.PASSED if same else Status.FAILED,
               "matches the reference" if same else
               f"{facts['mismatched_fraction']:.1%} of values differ from the reference. "
               "Average over every 3 in the training set, not a slice of it.",
               diagnostics=facts, figures=[picture]),
        _check("mnist_distance", "baseline", 2, 2, Status.PASSED, "matches the reference on fresh inputs",
               visibility=Visibility.HIDDEN, diagnostics={"shape": [1010], "max_abs_error": 0.0}),
        _check("valid_accuracy", "baseline", 1, 1, Status.PASSED, "accuracy 0.9511 (reference 0.9511)",
               diagnostics={"value": 0.9511, "expected": 0.9511, "abs_error": 0.0}),
    ]


def linear_checks(*, problem: bool) -> list[CheckResult]:
    """The linear part: training curves over the reference's; with `problem`, validate_epoch never ran."""
    curves = [Figure("curves", "Training loss", {"x_label": "epoch", "y_label": "loss",
                                                 "series": {"your run": STUDENT_LOSS, "reference": REFERENCE_LOSS}}),
              Figure("curves", "Validation accuracy", {"x_label": "epoch", "y_label": "accuracy",
                                                       "series": {"your run": STUDENT_ACCURACY,
                                                                  "reference": REFERENCE_ACCURACY}})]
    validate = (_check("validate_epoch", "linear", 0, 2, Status.NOT_RUN,
                       "not run: cell 14, which defines `validate_epoch`, raised NameError")
                if problem else
                _check("validate_epoch", "linear", 2, 2, Status.PASSED, "matches the reference"))
    return [
        _check("linear1", "linear", 2, 2, Status.PASSED, "matches the reference on fresh inputs",
               visibility=Visibility.HIDDEN),
        _check("mnist_loss", "linear", 0, 2, Status.FAILED,
               "raised RuntimeError: The size of tensor a (256) must match the size of tensor b (784)",
               diagnostics={"traceback": "\x1b[0;31mRuntimeError\x1b[0m Traceback (most recent call last)\n"
                                         "Cell \x1b[0;32mIn[9]\x1b[0m, line 2\n  return torch.where(targets==1, "
                                         "1-predictions, predictions).mean()\n\x1b[0;31mRuntimeError\x1b[0m: "
                                         "The size of tensor a (256) must match the size of tensor b (784)"}),
        validate,
        _check("train_20_epochs", "linear", 1.3, 2, Status.PARTIAL,
               "accuracy 0.9624 is below 0.9730 (reference runs: 0.9790 ± 0.0020)",
               diagnostics={"accuracy": 0.9624, "reference_mean": 0.979, "reference_std": 0.002, "threshold": 0.973},
               figures=curves),
    ]


def full_mnist_checks(matrix: list[list[int]]) -> list[CheckResult]:
    """The full-MNIST part with the confusion matrix of a real 10-digit classifier."""
    accuracy = sum(matrix[i][i] for i in range(10)) / sum(map(sum, matrix))
    return [_check("ten_class_accuracy", "full_mnist", 3, 3, Status.PASSED,
                   f"accuracy {accuracy:.4f} is above the 0.6000 threshold",
                   diagnostics={"accuracy": accuracy, "threshold": 0.6},
                   figures=[Figure("confusion", "Pixel similarity on the test set",
                                   {"labels": [str(d) for d in range(10)], "matrix": matrix})])]


def questionnaire_checks(*, hostile: bool) -> list[CheckResult]:
    """Three questions: a full answer, a partial one needing review, and one the instructor overrode."""
    q1 = _check("q01", "questionnaire", 1, 1, Status.PASSED, "3 of 3 key ideas found", answer=Answer(
        prompt="How is a greyscale image represented on a computer? And a colour image?",
        text="As a grid of numbers (0 = white, 255 = black) for grey; colour images have 3 such grids: red, green, blue.",
        reference="A greyscale image is a rank-2 array of pixel intensities from 0 to 255; a colour image adds a "
                  "third axis of three channels (red, green, blue).",
        concepts_found=["grid of numbers", "0 to 255", "three channels"]))
    q2 = _check("q02", "questionnaire", 0.5, 1, Status.PARTIAL, "1 of 2 key ideas found", needs_review=True,
                answer=Answer(prompt="Why does SGD need a loss function rather than accuracy?",
                              text=HOSTILE_ANSWER if hostile else "Because the loss is smooth.",
                              reference="Accuracy only changes when a prediction flips, so its gradient is zero "
                                        "almost everywhere; a loss gives a useful gradient for every small change.",
                              concepts_found=["smooth"], concepts_missing=["gradient is zero"]))
    q3 = _check("q03", "questionnaire", 0, 1, Status.FAILED, "0 of 2 key ideas found", answer=Answer(
        prompt="What is the function that limits outputs to between 0 and 1?",
        text="the logistic curve, 1/(1+e^-x)", reference="sigmoid",
        concepts_missing=["sigmoid"])).overridden(1, "Correct: the logistic function is the sigmoid.")
    return [q1, q2, q3]


@lru_cache(maxsize=None)
def example_batch(data_dir: Path) -> BatchResult:
    """Three students over four parts, with every kind of outcome a report has to show (made once; do not modify)."""
    digits = ideal_digits(data_dir)
    confusion = nearest_mean_confusion(data_dir)
    problem = ExecutionProblem(
        kind="error", cell_index=14, cell_source="def validate_epoch(model):\n    accs = [batch_accuracy(model(xb), yb) "
        "for xb,yb in valid_dl]\n    return round(torch.stack(acs).mean().item(), 4)\nvalidate_epoch(linear1)",
        ename="NameError", evalue="name 'acs' is not defined",
        traceback="\x1b[0;31m---------------------------------------------------------------------------\x1b[0m\n"
                  "\x1b[0;31mNameError\x1b[0m                                 Traceback (most recent call last)\n"
                  "Cell \x1b[0;32mIn[14]\x1b[0m, line 4\n----> 4 validate_epoch(linear1)\n"
                  "\x1b[0;31mNameError\x1b[0m: name 'acs' is not defined")
    graded = "2024-05-06T08:5{}:00+00:00"

    def submission(student: str, assignment: str, checks, minute: int, **extra) -> SubmissionResult:
        return SubmissionResult(path=f"submissions/{student}/{assignment}.ipynb", student=student,
                                assignment=assignment, checks=checks, graded_at=graded.format(minute),
                                execute_seconds=4.2, seconds=5.0, **extra)

    return BatchResult([
        submission("ada", "baseline", baseline_checks(digits, student_mean3=digits["student_mean3"]), 1),
        submission("ada", "linear", linear_checks(problem=True), 2, problems=[problem]),
        submission("ada", "questionnaire", questionnaire_checks(hostile=True), 3),
        submission("ben", "baseline", baseline_checks(digits, student_mean3=digits["mean3"]), 4),
        submission("ben", "linear", linear_checks(problem=False), 5),
        submission("ben", "full_mnist", full_mnist_checks(confusion), 6),
        submission("ben", "questionnaire", [replace(check, needs_review=False)
                                             for check in questionnaire_checks(hostile=False)], 7),
        replace(SubmissionResult.without_results(
            "notebook is not valid JSON: Expecting ',' delimiter: line 41 column 5 (char 1187)",
            path="submissions/cy/baseline.ipynb", student="cy", assignment="baseline", declared_max_score=6),
            graded_at=graded.format(8)),
    ], created=CREATED)


def without_pixels(html: str) -> str:
    """A page with its embedded PNGs' bytes left out (they depend on the zlib and matplotlib versions)."""
    return EMBEDDED_PNG.sub("data:image/png;base64,(png)", html)


def check_golden(name: str, html: str, *, update: bool) -> None:
    """Compare a page (pixels left out) with `tests/golden/<name>`; with `update`, rewrite the golden file."""
    path = GOLDEN / name
    page = without_pixels(html)
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    assert path.is_file(), f"{path} is missing; run pytest with --update-golden to create it"
    assert page == path.read_text(encoding="utf-8"), (
        f"{name} differs from {path}; if the change is intended, run pytest with --update-golden and review the diff")


class Element:
    """One parsed element: tag, attributes and its text content (children included)."""

    def __init__(self, tag: str, attrs: dict[str, str | None]):
        self.tag, self.attrs, self.parts = tag, attrs, []

    @property
    def text(self) -> str:
        """Text content with whitespace collapsed."""
        return " ".join("".join(self.parts).split())


class PageParser(HTMLParser):
    """Every element of a page in document order, with its text (the stdlib parser: no extra dependency)."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.open: list[Element] = []

    def handle_starttag(self, tag, attrs):
        element = Element(tag, dict(attrs))
        self.elements.append(element)
        if tag not in self.VOID:
            self.open.append(element)

    def handle_endtag(self, tag):
        while self.open:
            if self.open.pop().tag == tag:
                break

    def handle_data(self, data):
        for element in self.open:
            element.parts.append(data)


def parse_page(html: str) -> list[Element]:
    """The elements of a page."""
    parser = PageParser()
    parser.feed(html)
    parser.close()
    return parser.elements


def element_by_id(elements: list[Element], element_id: str) -> Element:
    """The element with this id."""
    found = [element for element in elements if element.attrs.get("id") == element_id]
    assert len(found) == 1, f"expected one element with id {element_id!r}, found {len(found)}"
    return found[0]
