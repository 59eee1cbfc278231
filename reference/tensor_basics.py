"""Tensor basics from the chapter and the code questions of its questionnaire.

API:
    example_tensor() -> Tensor                      ([[1,2,3],[4,5,6]])
    row(t, i) -> Tensor     column(t, j) -> Tensor  rank(t) -> int
    double_odds(numbers: list[int]) -> list[int]    (a list comprehension)
    one_to_nine() -> Tensor                         (3×3, values 1..9)
    bottom_right(t: Tensor) -> Tensor               (the bottom-right 2×2 block)
    pair_up(a, b) -> list[tuple]                    ([1,2,3,4], 'abcd' → [(1,'a'), ...])
    sigmoid_curve(*, low=-4., high=4., steps=100) -> tuple[Tensor, Tensor]
    relu_curve(*, low=-2., high=2., steps=100) -> tuple[Tensor, Tensor]
"""
from __future__ import annotations

import torch


def example_tensor() -> torch.Tensor:
    """The chapter's 2×3 integer tensor."""
    return torch.tensor([[1, 2, 3], [4, 5, 6]])


def row(t: torch.Tensor, i: int) -> torch.Tensor:
    """Row `i` of a matrix."""
    return t[i]


def column(t: torch.Tensor, j: int) -> torch.Tensor:
    """Column `j` of a matrix."""
    return t[:, j]


def rank(t: torch.Tensor) -> int:
    """Number of axes: the length of the shape."""
    return len(t.shape)


def double_odds(numbers: list[int]) -> list[int]:
    """Keep the odd numbers and double them, with a list comprehension."""
    return [2 * n for n in numbers if n % 2 == 1]


def one_to_nine() -> torch.Tensor:
    """A 3×3 tensor holding 1 to 9 row by row."""
    return torch.arange(1, 10).view(3, 3)


def bottom_right(t: torch.Tensor) -> torch.Tensor:
    """The bottom-right 2×2 block of a matrix."""
    return t[-2:, -2:]


def pair_up(a, b) -> list[tuple]:
    """Pair up items of two sequences position by position."""
    return list(zip(a, b))


def sigmoid_curve(*, low: float = -4.0, high: float = 4.0, steps: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Points (x, sigmoid(x)) for plotting."""
    x = torch.linspace(low, high, steps)
    return x, torch.sigmoid(x)


def relu_curve(*, low: float = -2.0, high: float = 2.0, steps: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """Points (x, relu(x)) for plotting."""
    x = torch.linspace(low, high, steps)
    return x, torch.relu(x)
