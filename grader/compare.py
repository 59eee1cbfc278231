"""Built-in comparison kinds: tensors, scalars, equality, accuracy against a reference distribution, loss going down."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

from grader.comparison import COMPARISON_KINDS, Comparison, Context, Opaque, Outcome


def comparison(kind: str, **options: Any) -> Comparison:
    """A registered comparison kind by name, built with `options`."""
    if kind not in COMPARISON_KINDS:
        raise KeyError(f"unknown comparison kind {kind!r}; known: {', '.join(sorted(COMPARISON_KINDS))}")
    return COMPARISON_KINDS[kind](**options)


def describe(value: Any) -> str:
    """A short description of a value for messages: type, and shape for tensors."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, Opaque):
        return f"a {value.type_name}"
    return f"a {type(value).__name__} ({value!r:.60})"


def as_tensor(value: Any) -> torch.Tensor | None:
    """A tensor from a tensor, a number or a (nested) list of numbers; None when it is none of those."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (bool, int, float)) or (isinstance(value, list) and value):
        try:
            return torch.tensor(value)
        except (TypeError, ValueError, RuntimeError):
            return None
    return None


def as_number(value: Any) -> float | None:
    """A float from a number or a one-element tensor; None otherwise."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.detach().double().item())
    return None


def error_stats(student: torch.Tensor, expected: torch.Tensor, *, rtol: float, atol: float) -> dict[str, float]:
    """Max absolute and relative error and the fraction of elements outside tolerance."""
    if student.numel() and student.dtype == expected.dtype and torch.equal(student.detach(), expected.detach()):
        return {"max_abs_error": 0.0, "max_rel_error": 0.0, "mismatched_fraction": 0.0}  # the same bits: no arithmetic
    s, e = student.detach().double(), expected.detach().double()
    difference = (s - e).abs()
    close = torch.isclose(s, e, rtol=rtol, atol=atol, equal_nan=True)
    relative = difference / e.abs().clamp_min(1e-12)
    finite = torch.isfinite(difference)
    return {"max_abs_error": float(difference[finite].max()) if finite.any() else math.inf,
            "max_rel_error": float(relative[finite].max()) if finite.any() else math.inf,
            "mismatched_fraction": float(1 - close.double().mean()) if close.numel() else 0.0}


@dataclass(frozen=True)
class Tensor(Comparison, kind="tensor"):
    """Same shape and (optionally) dtype, values within rtol/atol; `partial` gives credit per matching element."""

    rtol: float = 1e-5
    atol: float = 1e-6
    dtype: bool = False
    partial: bool = False

    def judge(self, student: Any, expected: Any, ctx: Context) -> Outcome:
        got, want = as_tensor(student), as_tensor(expected)
        if got is None:
            return Outcome(0.0, f"expected {describe(want)}, got {describe(student)}")
        facts = {"shape": list(got.shape), "expected_shape": list(want.shape),
                 "dtype": str(got.dtype), "expected_dtype": str(want.dtype)}
        if got.shape != want.shape:
            return Outcome(0.0, f"shape {tuple(got.shape)} but expected {tuple(want.shape)}", facts)
        if self.dtype and got.dtype != want.dtype:
            return Outcome(0.0, f"dtype {got.dtype} but expected {want.dtype}", facts)
        facts.update(error_stats(got, want, rtol=self.rtol, atol=self.atol))
        mismatched = facts["mismatched_fraction"]
        if mismatched == 0:
            return Outcome(1.0, f"matches the reference (max abs error {facts['max_abs_error']:.2g})", facts)
        fraction = (1 - mismatched) if self.partial else 0.0
        return Outcome(fraction, f"{mismatched:.1%} of values differ from the reference "
                                 f"(max abs error {facts['max_abs_error']:.3g}, max rel error "
                                 f"{facts['max_rel_error']:.3g}; tolerance rtol={self.rtol:g}, atol={self.atol:g})", facts)


@dataclass(frozen=True)
class Scalar(Comparison, kind="scalar"):
    """One number within rtol/atol of the reference."""

    rtol: float = 1e-5
    atol: float = 1e-6

    def judge(self, student: Any, expected: Any, ctx: Context) -> Outcome:
        got, want = as_number(student), as_number(expected)
        if got is None:
            return Outcome(0.0, f"expected a number, got {describe(student)}")
        facts = {"value": got, "expected": want, "abs_error": abs(got - want)}
        if math.isclose(got, want, rel_tol=self.rtol, abs_tol=self.atol):
            return Outcome(1.0, f"{got:.6g} matches the reference", facts)
        return Outcome(0.0, f"{got:.6g} but the reference gives {want:.6g} on the same inputs", facts)


@dataclass(frozen=True)
class Equal(Comparison, kind="equal"):
    """Exactly equal plain values (numbers, strings, lists)."""

    def judge(self, student: Any, expected: Any, ctx: Context) -> Outcome:
        if isinstance(student, torch.Tensor) or isinstance(expected, torch.Tensor):
            got, want = as_tensor(student), as_tensor(expected)
            same = got is not None and got.shape == want.shape and bool((got == want).all())
        else:
            same = student == expected
        return Outcome(1.0, "as expected") if same else Outcome(0.0, f"got {student!r:.80} but expected {expected!r:.80}")


@dataclass(frozen=True)
class Accuracy(Comparison, kind="accuracy"):
    """An accuracy at least the reference runs' mean minus `sigmas` standard deviations.

    `expected` is {"mean": m, "std": s} (or a number). Partial credit grows linearly from `chance` up to that threshold.
    """

    sigmas: float = 3.0
    chance: float = 0.5
    min_std: float = 0.002
    measure: Callable[[Any, Context], float] | None = None  # turns the student's value (e.g. weights) into an accuracy

    def judge(self, student: Any, expected: Any, ctx: Context) -> Outcome:
        try:
            got = as_number(self.measure(student, ctx) if self.measure else student)
        except Exception as error:  # student values of the wrong kind or shape
            return Outcome(0.0, f"could not measure an accuracy from {describe(student)}: {type(error).__name__}: {error}")
        mean, std = (expected["mean"], expected["std"]) if isinstance(expected, dict) else (float(expected), 0.0)
        threshold = mean - self.sigmas * max(std, self.min_std)
        if got is None or not math.isfinite(got):
            return Outcome(0.0, f"expected an accuracy (a number), got {describe(student)}")
        facts = {"accuracy": got, "reference_mean": mean, "reference_std": std, "threshold": threshold}
        if not 0 <= got <= 1:
            return Outcome(0.0, f"accuracy {got:.4g} is not a fraction between 0 and 1", facts)
        if got >= threshold:
            return Outcome(1.0, f"accuracy {got:.4f} (reference runs: {mean:.4f} ± {std:.4f})", facts)
        fraction = max(0.0, (got - self.chance) / (threshold - self.chance)) if threshold > self.chance else 0.0
        return Outcome(round(fraction, 4), f"accuracy {got:.4f} is below {threshold:.4f} (reference runs: "
                                           f"{mean:.4f} ± {std:.4f})", facts)


@dataclass(frozen=True)
class LossDecreasing(Comparison, kind="loss_decreasing"):
    """A series of losses that goes down: half the points for ending below the start, half for a falling trend."""

    def judge(self, student: Any, expected: Any, ctx: Context) -> Outcome:
        series = as_tensor(student)
        if series is None or series.numel() < 2:
            return Outcome(0.0, f"expected a list of at least two losses, got {describe(student)}")
        values = series.detach().double().flatten()
        if not torch.isfinite(values).all():
            return Outcome(0.0, "the losses contain NaN or infinity", {"losses": values.tolist()})
        half = len(values) // 2
        ends_lower = bool(values[-1] < values[0])
        trend_down = bool(values[half:].mean() < values[:half].mean()) if half else ends_lower
        facts = {"first": float(values[0]), "last": float(values[-1]), "steps": len(values)}
        fraction = (ends_lower + trend_down) / 2
        if fraction == 1:
            return Outcome(1.0, f"loss fell from {facts['first']:.4g} to {facts['last']:.4g}", facts)
        return Outcome(fraction, f"loss did not go down (first {facts['first']:.4g}, last {facts['last']:.4g})", facts)


@dataclass(frozen=True)
class Each(Comparison, kind="each"):
    """Several values at once (the student's list/tuple against the expected list), each with its own comparison.

    `items` is one comparison for all, or one per position; `labels` name the positions in messages.
    The fraction is the mean of the items' fractions (so partial credit per item).
    """

    items: Comparison | tuple[Comparison, ...]
    labels: tuple[str, ...] = ()

    def judge(self, student: Any, expected: Any, ctx: Context) -> Outcome:
        if not isinstance(student, (list, tuple)) or len(student) != len(expected):
            return Outcome(0.0, f"expected {len(expected)} values, got {describe(student)}")
        comparisons = self.items if isinstance(self.items, tuple) else (self.items,) * len(expected)
        labels = self.labels or tuple(str(i) for i in range(len(expected)))
        outcomes = [c.judge(s, e, ctx) for c, s, e in zip(comparisons, student, expected)]
        fraction = sum(o.fraction for o in outcomes) / len(outcomes)
        wrong = [f"{label}: {o.message}" for label, o in zip(labels, outcomes) if o.fraction < 1]
        facts = {label: o.diagnostics for label, o in zip(labels, outcomes)}
        return Outcome(fraction, "; ".join(wrong) if wrong else "all match the reference", facts,
                       [f for o in outcomes for f in o.figures])


@dataclass(frozen=True)
class Follows(Comparison, kind="follows"):
    """A step judged alone: the student's value against the reference, else against the step redone on their own inputs.

    The fetch gives `[value, *upstream]`: the value, then the student's own earlier values it was computed
    from. When the value misses the reference, `step(*upstream)` (the reference step, run here, outside the
    kernel) shows whether the step itself was right and the difference came from an earlier step, which
    is charged by its own check. Without `step` (a self-check bundle) only the first comparison is made.
    """

    inner: Comparison
    upstream: str
    step: Callable[..., Any] | None = None

    def judge(self, student: Any, expected: Any, ctx: Context) -> Outcome:
        if not isinstance(student, (list, tuple)) or not student:
            return self.inner.judge(student, expected, ctx)
        value, upstream = student[0], list(student[1:])
        outcome = self.inner.judge(value, expected, ctx)
        if outcome.fraction >= 1 or self.step is None or not upstream:
            return outcome
        try:
            redone = self.step(*upstream)
        except Exception:  # upstream values of the wrong kind: the step cannot be redone on them
            return outcome
        if self.inner.judge(value, redone, ctx).fraction >= 1:
            return Outcome(1.0, f"this step is right: your value is what it gives on your own {self.upstream}, "
                                f"which differs from the reference and is charged by its own check",
                           outcome.diagnostics, outcome.figures)
        return outcome

    def for_release(self) -> "Follows":
        """What a self-check bundle carries: the first comparison only (the step is grader code)."""
        return Follows(self.inner, self.upstream)


@dataclass(frozen=True)
class Replayed(Comparison, kind="replayed"):
    """A value the probe recomputed by re-running the student's own statements on stand-in inputs (`replay`).

    The fetch gives {"replayed": bool, "value": v}; `expected` is {"replayed": reference on the stand-ins,
    "actual": the reference value}. Replayed values are judged against the first (earlier steps swapped for
    the reference's, so only this step counts); a value no top-level statement computes, against the second.
    """

    inner: Comparison

    def judge(self, student: Any, expected: Any, ctx: Context) -> Outcome:
        if not isinstance(student, dict) or "value" not in student:
            return Outcome(0.0, f"expected a replayed value, got {describe(student)}")
        replayed = bool(student.get("replayed"))
        outcome = self.inner.judge(student["value"], expected["replayed" if replayed else "actual"], ctx)
        if replayed:
            outcome.message = f"your statements re-run on fresh inputs, with the reference's earlier steps: {outcome.message}"
        return outcome
