"""Checks for `full_mnist` (Further Research 2): all ten digits, pixel similarity, a linear model and an MLP."""
from functools import lru_cache

import torch

from grader.checks import (Accuracy, Assignment, Check, Each, Equal, Figure, Replayed, Scalar, Script, Tensor, Value,
                           cached_json)
from reference import full_mnist as ref
from reference.check_support import data_key

# Summaries rather than the 60,000 images themselves: shapes, pixel sums, and images per digit.
SPLITS = """
result = []
for x, y in ((ns['train_x'], ns['train_y']), (ns['test_x'], ns['test_y'])):
    result += [list(x.shape), float(x.double().sum()), y.detach().cpu().long().bincount(minlength=10)]
"""
STATE = "result = {{name: value for name, value in ns[{name!r}].state_dict().items()}}"

# The student's own nearest-mean statements, re-run on stand-in test images and class means, so that the
# pixel-similarity step is judged apart from the means (checked by class_means) and the loaded data.
PIXEL = """
values = replay(ns, cells, ['pixel_accuracy'], {'means': inputs['means'].clone(), 'test_x': inputs['x'].clone(),
                                                'test_y': inputs['y'].clone()})
value, replayed = values['pixel_accuracy']
result = {'replayed': replayed, 'value': value}
"""


@lru_cache(maxsize=1)
def data(data_dir):
    """Full MNIST from the tensor cache, on the CPU."""
    return ref.load_full_mnist(data_dir=data_dir)


def expected_splits(ctx):
    """The same summaries of the reference tensors."""
    d = data(ctx.data_dir)
    return [value for x, y in ((d.train_x, d.train_y), (d.test_x, d.test_y))
            for value in (list(x.shape), float(x.double().sum()), y.bincount(minlength=10))]


def trained_stats(name, train):
    """Reference test accuracy of a trained model over two seeds, with seed 0's confusion matrix (cached)."""
    def stats(ctx):
        def compute():
            runs = [train(data(ctx.data_dir), seed=seed) for seed in range(2)]
            finals = torch.tensor([run.accuracy for run in runs])
            return {"mean": float(finals.mean()), "std": float(finals.std()), "confusion": runs[0].confusion.tolist()}
        return cached_json(f"full-mnist-{name}", {"seeds": 2, "data": data_key(ctx.data_dir, "mnist_png")}, compute,
                           modules=("reference.full_mnist",))
    return stats


def predictions(student, ctx):
    """Test-set predictions of the student's trained weights (linear, or linear → ReLU → linear), computed here."""
    weights = [v.float() for k, v in sorted(student.items()) if k.endswith("weight")]
    biases = [v.float() for k, v in sorted(student.items()) if k.endswith("bias")]
    x = data(ctx.data_dir).test_x
    for index, (w, b) in enumerate(zip(weights, biases)):
        x = x @ w.T + b
        if index < len(weights) - 1:
            x = x.clamp_min(0)
    return x.argmax(1)


def test_accuracy(student, ctx):
    """Accuracy of the student's trained model on the test set."""
    return ref.accuracy(predictions(student, ctx), data(ctx.data_dir).test_y)


def confusion_figure(student, expected, ctx):
    """Figure: the confusion matrix of the student's model on the test set."""
    matrix = ref.confusion_matrix(predictions(student, ctx), data(ctx.data_dir).test_y)
    return [Figure("confusion", "your model on the 10,000 test digits",
                   {"labels": [str(d) for d in range(10)], "matrix": matrix.tolist()})]


ASSIGNMENT = Assignment(name="full_mnist", title="All ten digits", cell_timeout=900, checks=(
    Check("splits", points=2, fetch=Script(SPLITS, requires=("train_x", "train_y", "test_x", "test_y")),
          compare=Each((Equal(), Scalar(rtol=1e-6), Tensor(), Equal(), Scalar(rtol=1e-6), Tensor()),
                       labels=("train shape", "train pixel sum", "train digits", "test shape", "test pixel sum",
                               "test digits")),
          expected=expected_splits,
          hint="Load every digit folder of training and testing, flatten to 784 floats in [0, 1], labels 0-9"),
    Check("class_means", points=2, fetch=Value("means"), compare=Tensor(atol=1e-5),
          expected=lambda ctx: ref.class_means(data(ctx.data_dir).train_x, data(ctx.data_dir).train_y),
          hint="means[d] is the mean training image of digit d (10 rows of 784)"),
    Check("pixel_accuracy", points=2, fetch=Script(PIXEL, requires=("pixel_accuracy",)),
          compare=Replayed(Scalar(atol=2e-4)),
          inputs=lambda gen: {"x": torch.rand(300, 28 * 28, generator=gen),
                              "y": torch.randint(0, 10, (300,), generator=gen),
                              "means": torch.rand(10, 28 * 28, generator=gen)},
          expected=lambda ctx: {"replayed": ref.accuracy(ref.nearest_mean(ctx.inputs["x"], ctx.inputs["means"]),
                                                         ctx.inputs["y"]),
                                "actual": ref.pixel_similarity(data(ctx.data_dir)).accuracy},
          hint="Predict the digit whose mean image is nearest (mean absolute difference) and compare with test_y"),
    Check("linear_accuracy", points=2, fetch=Script(STATE.format(name="linear_model"), requires=("linear_model",)),
          compare=Accuracy(sigmas=3, min_std=0.005, chance=0.8, measure=test_accuracy),
          expected=trained_stats("linear", ref.train_full_linear), timeout=300,
          hint="Train nn.Linear(784, 10) with cross-entropy for a few epochs"),
    Check("mlp_accuracy", points=3, fetch=Script(STATE.format(name="mlp"), requires=("mlp",)),
          compare=Accuracy(sigmas=3, min_std=0.005, chance=0.8, measure=test_accuracy),
          expected=trained_stats("mlp", ref.train_full_mlp), figures=confusion_figure, timeout=300,
          hint="Train Linear(784, 512) → ReLU → Linear(512, 10) with cross-entropy"),
))
