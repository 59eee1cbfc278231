"""Turn `Figure` data from results into images embedded in a page (PNG data URIs) with text alternatives.

Charts carry no title of their own: the page's caption names them.
"""
from __future__ import annotations

import base64
import importlib
import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from grader.results import Figure

PIXEL_SCALE = 4  # a 28×28 digit becomes 112×112 screen pixels, drawn without smoothing
MAX_IMAGE_SIDE = 200  # larger arrays are not digits; they are refused rather than drawn
MAX_PLOT_BYTES = 150_000  # a student's plot larger than this is not shown
MAX_PLOT_SIDE = 480  # and one wider or taller is shrunk to this
LINE_STYLES = [("-", "o"), ("--", "s"), (":", "^"), ("-.", "D")]  # lines differ without colour


@dataclass(frozen=True)
class Picture:
    """One embedded image: a data URI with the text that stands in for it."""

    src: str
    alt: str
    caption: str
    width: int
    height: int


@dataclass(frozen=True)
class DataTable:
    """The numbers behind a picture, for readers who cannot or would rather not look."""

    headers: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class DrawnFigure:
    """A figure ready for a template: pictures, the numbers behind them, and any note."""

    kind: str
    title: str
    pictures: list[Picture] = field(default_factory=list)
    table: DataTable | None = None
    note: str = ""


def draw(figure: Figure) -> DrawnFigure:
    """Draw one figure; data that cannot be drawn (student values of any shape) gives a note, not an error."""
    drawers = {"images": _draw_images, "curves": _draw_curves, "confusion": _draw_confusion, "plot": _draw_plot}
    if figure.kind not in drawers:
        return DrawnFigure(figure.kind, figure.title, note=f"no drawing for figure kind {figure.kind!r}")
    try:
        return drawers[figure.kind](figure.title, figure.data)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        return DrawnFigure(figure.kind, figure.title, note=f"could not draw this figure: {error}")


def draw_histogram(percentages: list[float], *, title: str, x_label: str) -> DrawnFigure:
    """A histogram of percentages in ten 10-point bins (100 counts in the last)."""
    edges = list(range(0, 101, 10))
    counts, _ = np.histogram(np.clip(percentages, 0, 100), bins=edges)
    labels = [f"{low}–{high}%" for low, high in zip(edges[:-1], edges[1:])]
    canvas, axes = _new_axes(6.4, 3.2)
    axes.bar(range(10), counts, width=0.9, color="#4477aa", edgecolor="black", hatch="//")
    axes.set_xticks(range(10), labels, rotation=30, fontsize=8)
    axes.set_xlabel(x_label)
    axes.set_ylabel("count")
    axes.yaxis.get_major_locator().set_params(integer=True)
    busiest = labels[int(np.argmax(counts))] if len(percentages) else "none"
    alt = (f"Histogram: {title}. {len(percentages)} values in ten bins of 10 points; "
           f"most common bin {busiest}.")
    table = DataTable(["range", "count"], [[label, str(int(n))] for label, n in zip(labels, counts)])
    return DrawnFigure("histogram", title, [_picture_of(canvas, alt=alt, caption=title)], table)


def _draw_images(title: str, data: dict[str, Any]) -> DrawnFigure:
    """Grayscale digits on one shared scale; arrays with negative values (differences) on a diverging scale."""
    arrays = {label: _image_array(values) for label, values in data["images"].items()}
    shared_top = max([float(a.max()) for a in arrays.values() if a.min() >= 0] + [1e-12])
    pictures = [_digit_picture(title, label, array, shared_top) for label, array in arrays.items()]
    return DrawnFigure("images", title, pictures)


def _image_array(values: Any) -> np.ndarray:
    """A 2-D float array with NaN and infinities replaced, or ValueError for anything else."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2 or not 0 < max(array.shape) <= MAX_IMAGE_SIDE or min(array.shape) == 0:
        raise ValueError(f"an image must be a 2-D array of at most {MAX_IMAGE_SIDE} pixels a side, "
                         f"got shape {tuple(array.shape)}")
    return np.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0)


def _digit_picture(title: str, label: str, array: np.ndarray, shared_top: float) -> Picture:
    """One digit image, enlarged with hard pixel edges."""
    from matplotlib import colormaps

    if array.min() < 0:
        spread = max(float(np.abs(array).max()), 1e-12)
        rgba = colormaps["RdBu_r"]((array + spread) / (2 * spread))
        scale = f"diverging scale: blue below zero, white zero, red above zero, ±{spread:.3g}"
    else:
        rgba = colormaps["Greys"](array / shared_top)
        scale = f"grey scale: white 0, black {shared_top:.3g}"
    pixels = Image.fromarray((rgba[..., :3] * 255).round().astype(np.uint8), "RGB")
    height, width = array.shape
    pixels = pixels.resize((width * PIXEL_SCALE, height * PIXEL_SCALE), Image.Resampling.NEAREST)
    alt = (f"{title}, {label}: {height}×{width} pixels, values from {array.min():.3g} to {array.max():.3g} "
           f"(mean {array.mean():.3g}); {scale}")
    return Picture(_png_uri(pixels), alt, label, pixels.width, pixels.height)


def _draw_curves(title: str, data: dict[str, Any]) -> DrawnFigure:
    """Line chart of each series against its index (1, 2, ...), styles differing in dash and marker."""
    series = {label: [_finite_or_nan(v) for v in values] for label, values in data["series"].items()}
    x_label, y_label = str(data.get("x_label", "")), str(data.get("y_label", ""))
    canvas, axes = _new_axes(6.4, 3.6)
    for index, (label, values) in enumerate(series.items()):
        line, marker = LINE_STYLES[index % len(LINE_STYLES)]
        axes.plot(range(1, len(values) + 1), values, linestyle=line, marker=marker, markersize=4,
                  markevery=max(1, len(values) // 10), label=label)
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.grid(alpha=0.3)
    if series:
        axes.legend()
    summaries = "; ".join(_series_summary(label, values) for label, values in series.items())
    alt = f"Line chart: {title}, {y_label} against {x_label}. {summaries}."
    length = max((len(values) for values in series.values()), default=0)
    rows = [[str(i + 1)] + [_number(values[i]) if i < len(values) else "" for values in series.values()]
            for i in range(length)]
    table = DataTable([x_label or "x", *series], rows)
    return DrawnFigure("curves", title, [_picture_of(canvas, alt=alt, caption=title)], table)


def _draw_plot(title: str, data: dict[str, Any]) -> DrawnFigure:
    """A student's own plot (the PNG their answer cell displayed, checked and size-limited) beside the reference
    curve, drawn here from its data."""
    pictures = []
    if data.get("student_png"):
        raw = base64.b64decode(data["student_png"], validate=False)
        if len(raw) > MAX_PLOT_BYTES:
            raise ValueError(f"the student's plot is over {MAX_PLOT_BYTES // 1000} kB")
        try:
            image = Image.open(io.BytesIO(raw))
            if image.format != "PNG" or image.width * image.height > 4_000_000:
                raise ValueError("the student's picture is not a PNG of a reasonable size")
            image.load()
        except (OSError, Image.DecompressionBombError) as error:
            raise ValueError(f"the student's picture cannot be read ({type(error).__name__})") from error
        if image.width > MAX_PLOT_SIDE or image.height > MAX_PLOT_SIDE:
            image.thumbnail((MAX_PLOT_SIDE, MAX_PLOT_SIDE))
        pictures.append(Picture(_png_uri(image.convert("RGBA")), f"{title}: the picture the student's answer "
                                f"cell displayed ({image.width}×{image.height} pixels)", "your plot",
                                image.width, image.height))
    reference = data.get("reference") or {}
    table = None
    if reference.get("x"):
        x = [_finite_or_nan(v) for v in reference["x"]]
        y = [_finite_or_nan(v) for v in reference["y"]]
        label = str(reference.get("label", "reference"))
        canvas, axes = _new_axes(4.0, 3.0)
        axes.plot(x, y)
        axes.set_xlabel("x")
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        alt = (f"Reference plot of {label} for x from {_number(x[0])} to {_number(x[-1])}: "
               f"from {_number(y[0])} to {_number(y[-1])}.")
        pictures.append(_picture_of(canvas, alt=alt, caption="reference"))
        step = max(1, len(x) // 8)
        table = DataTable(["x", label], [[_number(a), _number(b)] for a, b in list(zip(x, y))[::step]])
    return DrawnFigure("plot", title, pictures, table)


def _series_summary(label: str, values: list[float]) -> str:
    """'label: n values from first to last'."""
    if not values:
        return f"{label}: no values"
    return f"{label}: {len(values)} values from {_number(values[0])} to {_number(values[-1])}"


def _draw_confusion(title: str, data: dict[str, Any]) -> DrawnFigure:
    """Heat map of counts (rows true, columns predicted), each cell labelled with its count."""
    labels = [str(label) for label in data["labels"]]
    matrix = np.asarray(data["matrix"], dtype=np.int64)
    if matrix.shape != (len(labels), len(labels)):
        raise ValueError(f"a confusion matrix for {len(labels)} labels must be {len(labels)}×{len(labels)}, "
                         f"got shape {tuple(matrix.shape)}")
    canvas, axes = _new_axes(5.6, 5.0)
    axes.imshow(matrix, cmap="Blues")
    top = matrix.max() if matrix.size else 0
    for (row, column), count in np.ndenumerate(matrix):
        axes.text(column, row, str(count), ha="center", va="center", fontsize=7,
                  color="white" if count > top / 2 else "black")
    axes.set_xticks(range(len(labels)), labels)
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    table = DataTable(["true \\ predicted", *labels],
                      [[label, *(str(int(n)) for n in row)] for label, row in zip(labels, matrix)])
    return DrawnFigure("confusion", title, [_picture_of(canvas, alt=_confusion_alt(title, labels, matrix),
                                                        caption=title)], table)


def _confusion_alt(title: str, labels: list[str], matrix: np.ndarray) -> str:
    """Accuracy and the most frequent mistake, in words."""
    total = int(matrix.sum())
    accuracy = np.trace(matrix) / total if total else 0.0
    mistakes = matrix.copy()
    np.fill_diagonal(mistakes, -1)
    text = f"Confusion matrix: {title}. {len(labels)} classes, {total} samples, accuracy {accuracy:.1%}"
    if mistakes.size and mistakes.max() > 0:
        row, column = np.unravel_index(np.argmax(mistakes), mistakes.shape)
        text += (f"; most frequent mistake: true {labels[row]} predicted as {labels[column]} "
                 f"({mistakes[row, column]} times)")
    return text + "."


def warm_up() -> None:
    """Import matplotlib's drawing modules now, so that the first figure drawn later is quick."""
    for module in ("matplotlib.backends.backend_agg", "matplotlib.figure", "matplotlib.cm"):
        importlib.import_module(module)


def _new_axes(width_inches: float, height_inches: float):
    """A fresh matplotlib figure (no pyplot, no global state) and its one axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    chart = MplFigure(figsize=(width_inches, height_inches), dpi=100, layout="tight")
    return FigureCanvasAgg(chart), chart.add_subplot()


def _picture_of(canvas, *, alt: str, caption: str) -> Picture:
    """Render a matplotlib canvas to an embedded PNG."""
    buffer = io.BytesIO()
    canvas.print_png(buffer, metadata={"Software": None})
    width, height = canvas.get_width_height()
    return Picture(_data_uri(buffer.getvalue()), alt, caption, width, height)


def _png_uri(image: Image.Image) -> str:
    """A PIL image as a PNG data URI."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return _data_uri(buffer.getvalue())


def _data_uri(png: bytes) -> str:
    """PNG bytes as a data URI."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _finite_or_nan(value: Any) -> float:
    """A float, NaN for anything that is not a number (student values may be anything)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _number(value: float) -> str:
    """Four significant digits."""
    return f"{value:.4g}"
