"""Checks for `baseline`: tensors, the ideal 3 and 7, distances, broadcasting `mnist_distance`, `is_3`, accuracy."""
from functools import lru_cache

import torch

from grader.checks import Assignment, Call, Check, Each, Figure, Scalar, Script, Tensor, Value, Visibility
from reference import baseline as ref


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


IS_3 = """
with swap(ns, mean3=inputs['mean3'], mean7=inputs['mean7']):
    result = ns['is_3'](inputs['x'].clone())
"""

ASSIGNMENT = Assignment(name="baseline", title="Pixel similarity", cell_timeout=300, also_matches=("04_mnist_basics",),
                        checks=(
    Check("tensor_indexing", points=1, fetch=Value("[row_1, col_1, row_1_tail]"),
          compare=Each(Tensor(), labels=("row_1", "col_1", "row_1_tail")),
          expected=lambda ctx: [torch.tensor([4, 5, 6]), torch.tensor([2, 5]), torch.tensor([5, 6])],
          hint="Index tns = tensor([[1,2,3],[4,5,6]]): row 1, column 1, and row 1 from column 1 on"),
    Check("stacked_digits", points=2, fetch=Value("[stacked_threes, stacked_sevens]"),
          compare=Each(Tensor(atol=1e-6), labels=("stacked_threes", "stacked_sevens")),
          expected=lambda ctx: [sample(ctx.data_dir).threes, sample(ctx.data_dir).sevens],
          hint="Stack every training image of the digit, in sorted file order, as floats divided by 255"),
    Check("mean3", points=2, fetch=Value("mean3"), compare=Tensor(atol=1e-5), expected=lambda ctx: ideal(ctx)[0],
          figures=picture("mean3"), hint="Average stacked_threes over the first axis (the images)"),
    Check("mean7", points=2, fetch=Value("mean7"), compare=Tensor(atol=1e-5), expected=lambda ctx: ideal(ctx)[1],
          figures=picture("mean7"), hint="Average stacked_sevens over the first axis (the images)"),
    Check("distances", points=2, fetch=Value("[dist_3_abs, dist_3_sqr, dist_7_abs, dist_7_sqr]"),
          compare=Each(Scalar(rtol=1e-4, atol=1e-6), labels=("dist_3_abs", "dist_3_sqr", "dist_7_abs", "dist_7_sqr")),
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
    Check("accuracy", points=2, fetch=Value("[accuracy_3s, accuracy_7s]"),
          compare=Each(Scalar(atol=1e-4), labels=("accuracy_3s", "accuracy_7s")), expected=accuracies,
          hint="Accuracy on the validation 3s is the mean of is_3 as floats; on the 7s, the mean of 1 - that"),
))
