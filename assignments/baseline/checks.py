"""Checks for `baseline`: tensors, the ideal 3 and 7, distances, broadcasting `mnist_distance`, `is_3`, accuracy.

Each step is judged alone: a step computed from an earlier one is right when it matches the reference or
when it is the reference step applied to the student's own earlier values (`Follows`), and functions that
call earlier functions run with the reference's versions swapped in.
"""
import ast
from functools import lru_cache

import torch

from grader.checks import (Assignment, Call, Check, Comparison, Each, Figure, Follows, Outcome, Replayed, Scalar, Script,
                           Tensor, Value, Visibility)
from reference import baseline as ref

BOOK_TNS = torch.tensor([[1, 2, 3], [4, 5, 6]])

# Every indexing of `tns` the notebook evaluates at the top level (`tns[1]`, `row_1 = tns[1]`, ...), re-evaluated.
INDEXING = """
import ast
result = []
for node in statements(cells):
    if isinstance(node, (ast.Expr, ast.Assign)):
        for sub in ast.walk(node.value):
            if isinstance(sub, ast.Subscript) and isinstance(sub.value, ast.Name) and sub.value.id == 'tns':
                try:
                    result.append({'index': ast.unparse(sub)[len('tns['):-1], 'value': eval(ast.unparse(sub), ns)})
                except Exception:
                    pass
result = result[:50]
"""


@lru_cache(maxsize=2)
def sample(data_dir):
    """MNIST_SAMPLE as float tensors, loaded once per process."""
    return ref.load_sample(data_dir=data_dir)


def ideal(ctx):
    """The reference mean3 and mean7."""
    s = sample(ctx.data_dir)
    return ref.ideal_digit(s.threes), ref.ideal_digit(s.sevens)


def picture(label):
    """Figure: the student's image beside the reference and their difference."""
    def figures(student, expected, ctx):
        student = student[0] if isinstance(student, list) else student
        difference = (student.double() - expected.double()).float()
        return [Figure("images", f"{label}: yours, the reference, and the difference", {"images": {
            "yours": student.tolist(), "reference": expected.tolist(), "difference": difference.tolist()}})]
    return figures


def distances(ctx):
    """The four distances of the second training 3 to each ideal digit."""
    mean3, mean7 = ideal(ctx)
    a_3 = sample(ctx.data_dir).threes[1]
    return [ref.l1_distance(a_3, mean3), ref.rmse_distance(a_3, mean3),
            ref.l1_distance(a_3, mean7), ref.rmse_distance(a_3, mean7)]


def accuracies(ctx):
    """Reference accuracy on the validation 3s and 7s."""
    mean3, mean7 = ideal(ctx)
    s = sample(ctx.data_dir)
    return [ref.accuracy_3s(s.valid_threes, mean3, mean7), ref.accuracy_7s(s.valid_sevens, mean3, mean7)]


def images(gen, *shape):
    """Random 'images' with pixel-like values in [0, 1]."""
    return torch.rand(*shape, 28, 28, generator=gen)


# The chapter lists the validation folders unsorted, so these checks ignore image order.
VALID = """
result = []
for t in (ns['valid_3_tens'], ns['valid_7_tens']):
    result += [t.mean(0), t.sum((-1, -2)).sort().values]
"""


def summaries(*stacks):
    """Order-free summaries of stacked images: the mean image and the sorted per-image sums, for each stack."""
    return [value for t in stacks for value in (t.mean(0), t.sum((-1, -2)).sort().values)]


REF_DISTANCE = """
def ref_distance(a, b):
    return (a - b).abs().mean((-1, -2))
"""

IS_3 = REF_DISTANCE + """
with swap(ns, mean3=inputs['mean3'], mean7=inputs['mean7'], mnist_distance=ref_distance):
    result = ns['is_3'](inputs['x'].clone())
"""

# The student's own accuracy statements, re-run on stand-in validation images and ideal digits with the
# reference `is_3`, so that only the accuracy step itself is judged.
ACCURACY = REF_DISTANCE + """
def ref_is_3(x):
    return ref_distance(x, inputs['mean3']) < ref_distance(x, inputs['mean7'])

values = replay(ns, cells, ['accuracy_3s', 'accuracy_7s'], {
    'is_3': ref_is_3, 'mnist_distance': ref_distance, 'mean3': inputs['mean3'], 'mean7': inputs['mean7'],
    'valid_3_tens': inputs['threes'].clone(), 'valid_7_tens': inputs['sevens'].clone()})
result = {'replayed': all(done for _, done in values.values()), 'value': [values['accuracy_3s'][0], values['accuracy_7s'][0]]}
"""

STACKED_MEAN = "result = [ns[{name!r}], ns.get({stacked!r})]"
DISTANCES = ("result = [[ns[n] for n in ('dist_3_abs', 'dist_3_sqr', 'dist_7_abs', 'dist_7_sqr')], "
             "ns.get('a_3'), ns.get('mean3'), ns.get('mean7')]")


def literal_index(text):
    """The index an indexing's text stands for when it is built from integers and slices only; None otherwise."""
    def build(node):
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -build(node.operand)
        if isinstance(node, ast.Slice):
            return slice(*(None if part is None else build(part) for part in (node.lower, node.upper, node.step)))
        if isinstance(node, ast.Tuple):
            return tuple(build(item) for item in node.elts)
        raise ValueError(text)
    try:
        subscript = ast.parse(f"tns[{text}]", mode="eval").body
        return build(subscript.slice) if isinstance(subscript.value, ast.Name) else None
    except (SyntaxError, ValueError, TypeError, RecursionError):
        return None


def index_kind(index):
    """'a row', 'a column' or 'part of a row' for a two-axis index; None for anything else."""
    first, second = (index + (slice(None),) * 2)[:2] if isinstance(index, tuple) else (index, slice(None))
    whole = slice(None)
    if isinstance(first, int) and second == whole:
        return "a row"
    if first == whole and isinstance(second, int):
        return "a column"
    if isinstance(first, int) and isinstance(second, slice):
        return "part of a row"
    return None


class BookIndexing(Comparison, kind="book_indexing"):
    """The notebook's own indexings of `tns`: a row, a column and part of a row, each giving the book's values."""

    KINDS = ("a row", "a column", "part of a row")

    def judge(self, student, expected, ctx):
        shown, wrong = set(), []
        for item in student if isinstance(student, list) else []:
            index = literal_index(item.get("index", "")) if isinstance(item, dict) else None
            kind = index_kind(index) if index is not None else None
            if kind is None:
                continue
            want = expected[index]
            got = item.get("value")
            if isinstance(got, torch.Tensor) and got.shape == want.shape and bool((got == want).all()):
                shown.add(kind)
            else:
                wrong.append(f"tns[{item['index']}] gives {got!r:.40} but the book's tns gives {want.tolist()}")
        if not shown and not wrong:
            return Outcome(0.0, "no indexing of `tns` (such as tns[1], tns[:,1] or tns[1,1:3]) in this notebook")
        missing = [kind for kind in self.KINDS if kind not in shown]
        if not missing:
            return Outcome(1.0, "indexes a row, a column and part of a row of tns")
        message = f"no correct indexing of {', '.join(missing)} of tns"
        return Outcome(len(shown & set(self.KINDS)) / 3, "; ".join([message] + wrong[:2]))


def replayed_accuracies(ctx):
    """The reference accuracies on the stand-in inputs, and on the real validation set."""
    inputs = ctx.inputs
    replayed = [ref.accuracy_3s(inputs["threes"], inputs["mean3"], inputs["mean7"]),
                ref.accuracy_7s(inputs["sevens"], inputs["mean3"], inputs["mean7"])]
    return {"replayed": replayed, "actual": accuracies(ctx)}


def distances_of(a_3, mean3, mean7):
    """The four distances, by the reference, from the student's own a_3 and ideal digits."""
    return [ref.l1_distance(a_3, mean3), ref.rmse_distance(a_3, mean3), ref.l1_distance(a_3, mean7),
            ref.rmse_distance(a_3, mean7)]

ASSIGNMENT = Assignment(name="baseline", title="Pixel similarity", cell_timeout=300, also_matches=("04_mnist_basics",),
                        checks=(
    Check("tensor_indexing", points=1, fetch=Script(INDEXING, requires=("tns",)), compare=BookIndexing(),
          expected=lambda ctx: BOOK_TNS,
          hint="Make tns = tensor([[1,2,3],[4,5,6]]) and index it: a row (tns[1]), a column (tns[:,1]) and part of "
               "a row (tns[1,1:3])"),
    Check("stacked_digits", points=2, fetch=Value("[stacked_threes, stacked_sevens]"),
          compare=Each(Tensor(atol=1e-6), labels=("stacked_threes", "stacked_sevens")),
          expected=lambda ctx: [sample(ctx.data_dir).threes, sample(ctx.data_dir).sevens],
          hint="Stack every training image of the digit, in sorted file order, as floats divided by 255"),
    Check("mean3", points=2, fetch=Script(STACKED_MEAN.format(name="mean3", stacked="stacked_threes"),
                                       requires=("mean3",)),
          compare=Follows(Tensor(atol=1e-5), upstream="stacked_threes", step=ref.ideal_digit), expected=lambda ctx: ideal(ctx)[0],
          figures=picture("mean3"), hint="Average stacked_threes over the first axis (the images)"),
    Check("mean7", points=2, fetch=Script(STACKED_MEAN.format(name="mean7", stacked="stacked_sevens"),
                                       requires=("mean7",)),
          compare=Follows(Tensor(atol=1e-5), upstream="stacked_sevens", step=ref.ideal_digit), expected=lambda ctx: ideal(ctx)[1],
          figures=picture("mean7"), hint="Average stacked_sevens over the first axis (the images)"),
    Check("distances", points=2,
          fetch=Script(DISTANCES, requires=("dist_3_abs", "dist_3_sqr", "dist_7_abs", "dist_7_sqr")),
          compare=Follows(Each(Scalar(rtol=1e-4, atol=1e-6), labels=("dist_3_abs", "dist_3_sqr", "dist_7_abs",
                                                                      "dist_7_sqr")),
                          upstream="a_3, mean3 and mean7", step=distances_of),
          expected=distances, hint="L1: mean of absolute differences; RMSE: square root of the mean squared difference"),
    Check("valid_tensors", points=1, fetch=Script(VALID, requires=("valid_3_tens", "valid_7_tens")),
          compare=Each(Tensor(atol=1e-5), labels=("valid_3_tens mean image", "valid_3_tens image sums",
                                                  "valid_7_tens mean image", "valid_7_tens image sums")),
          expected=lambda ctx: summaries(sample(ctx.data_dir).valid_threes, sample(ctx.data_dir).valid_sevens),
          hint="Stack the validation images the same way as the training ones (floats divided by 255)"),
    Check("mnist_distance", points=3, fetch=Call("mnist_distance", "a", "b"), compare=Tensor(rtol=1e-4, atol=1e-6),
          inputs=lambda gen: {"a": images(gen, 7), "b": images(gen)},
          expected=lambda ctx: ref.mnist_distance(ctx.inputs["a"], ctx.inputs["b"]),
          hint="Take the mean absolute difference over the last two axes only, (-1, -2), so a batch broadcasts"),
    Check("mnist_distance_broadcast", points=2, fetch=Call("mnist_distance", "a", "b"),
          compare=Tensor(rtol=1e-4, atol=1e-6), visibility=Visibility.HIDDEN,
          inputs=lambda gen: {"a": images(gen, 2, 3), "b": images(gen)},
          expected=lambda ctx: ref.mnist_distance(ctx.inputs["a"], ctx.inputs["b"]),
          hint="mnist_distance must work for any number of leading axes"),
    Check("is_3", points=2, fetch=Script(IS_3, requires=("is_3",)), compare=Tensor(),
          inputs=lambda gen: {"x": images(gen, 9), "mean3": images(gen), "mean7": images(gen)},
          expected=lambda ctx: ref.is_3(ctx.inputs["x"], ctx.inputs["mean3"], ctx.inputs["mean7"]),
          hint="is_3(x) is True where mnist_distance(x, mean3) < mnist_distance(x, mean7), for a whole batch"),
    Check("accuracy", points=2, fetch=Script(ACCURACY, requires=("accuracy_3s", "accuracy_7s")),
          compare=Replayed(Each(Scalar(atol=1e-4), labels=("accuracy_3s", "accuracy_7s"))),
          inputs=lambda gen: {"threes": images(gen, 40), "sevens": images(gen, 30), "mean3": images(gen),
                              "mean7": images(gen)},
          expected=replayed_accuracies,
          hint="Accuracy on the validation 3s is the mean of is_3 as floats; on the 7s, the mean of 1 - that"),
))
