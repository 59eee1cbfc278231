"""Checks for `linear`: data as x/y, init_params, linear1, sigmoid, mnist_loss, the training loop, accuracy."""

import torch

from grader.checks import Accuracy, Assignment, Call, Check, Each, Figure, Scalar, Script, Tensor, cached_json
from reference import linear as ref
from reference.check_support import KERNEL_HELPERS, LINEAR_START, batch_inputs, epoch_inputs, cached_sample_xy, data_key

REFERENCE_PIECES = KERNEL_HELPERS + LINEAR_START

# Training data in order; validation data (listed unsorted in the chapter) compared per class, order-free.
TRAIN_XY = """
x, y = ns['valid_x'], ns['valid_y']
is_3 = y.reshape(-1) == 1
result = [ns['train_x'], ns['train_y'], torch.tensor(list(y.shape)), x[is_3].mean(0), x[~is_3].mean(0),
          x[is_3].sum(-1).sort().values, x[~is_3].sum(-1).sort().values]
"""

# The chapter's loss and accuracy call `.sigmoid()`; a student's may call their own `sigmoid`, swapped here.
WITH_SIGMOID = """
def ref_sigmoid(x):
    return torch.sigmoid(x)

with swap(ns, sigmoid=ref_sigmoid):
    result = ns[{name!r}](*(inputs[key].clone() for key in {keys!r}))
"""

INIT_PARAMS = """
torch.manual_seed(int(inputs['seed']))
made = ns['init_params']((6, 2), 0.5)
result = [made.detach(), float(made.requires_grad)]
"""

LINEAR1 = REFERENCE_PIECES + """
with swap(ns, weights=w, bias=b):
    result = ns['linear1'](inputs['x'].clone())
"""

CALC_GRAD = REFERENCE_PIECES + """
with swap(ns, mnist_loss=ref_loss):
    ns['calc_grad'](inputs['x'].clone(), inputs['y'].clone(), model)
result = [w.grad, b.grad]
"""

# The chapter's train_epoch(model, lr, params) and its later train_epoch(model), which uses a global `opt`.
TRAIN_EPOCH = REFERENCE_PIECES + """
import inspect
train_epoch = ns['train_epoch']
with swap(ns, dl=batches, calc_grad=ref_calc_grad, mnist_loss=ref_loss, weights=w, bias=b,
          opt=RefOptim((w, b), 0.1)):
    if len(inspect.signature(train_epoch).parameters) >= 3:
        train_epoch(model, 0.1, (w, b))
    else:
        train_epoch(model)
result = [w.detach(), b.detach()]
"""

VALIDATE_EPOCH = REFERENCE_PIECES + """
with swap(ns, valid_dl=batches, batch_accuracy=ref_accuracy):
    result = ns['validate_epoch'](model)
"""

TRAINED = """
result = {"weights": ns['weights'], "bias": ns['bias'], "accuracies": ns.get('accuracies')}
"""


def expected_xy(ctx):
    """The same values from the reference tensors."""
    xy = cached_sample_xy(ctx.data_dir)
    is_3 = xy.valid_y.reshape(-1) == 1
    x = xy.valid_x
    return [xy.train_x, xy.train_y, torch.tensor(list(xy.valid_y.shape)), x[is_3].mean(0), x[~is_3].mean(0),
            x[is_3].sum(-1).sort().values, x[~is_3].sum(-1).sort().values]


def reference_model(ctx):
    """The reference model and its parameters from the same starting weights."""
    w = ctx.inputs["weights"].clone().requires_grad_()
    b = ctx.inputs["bias"].clone().requires_grad_()
    return (lambda xb: ref.linear1(xb, w, b)), w, b


def batches(ctx):
    """The same batches of 8 the probe builds."""
    return list(zip(ctx.inputs["x"].split(8), ctx.inputs["y"].split(8)))


def accuracy_inputs(gen):
    """Outputs and targets where any wrong threshold costs accuracy: near 0 the target agrees with the sign.

    With random targets everywhere, a threshold such as `xb > 0.5` could turn as many right answers wrong
    as wrong ones right and leave the accuracy unchanged; random targets stay where |x| > 1.
    """
    x = torch.randn(64, 1, generator=gen)
    y = torch.randint(0, 2, (64, 1), generator=gen)
    return {"x": x, "y": torch.where(x.abs() < 1, (x > 0).long(), y)}


def expected_init(ctx):
    """What init_params((6, 2), 0.5) draws right after seeding."""
    torch.manual_seed(int(ctx.inputs["seed"]))
    return [ref.init_params((6, 2), 0.5).detach(), 1.0]


def expected_grads(ctx):
    """Gradients of the reference loss at the starting weights."""
    model, w, b = reference_model(ctx)
    ref.calc_grad(ctx.inputs["x"], ctx.inputs["y"], model)
    return [w.grad, b.grad]


def expected_epoch(ctx):
    """Weights after one reference epoch at lr 0.1."""
    model, w, b = reference_model(ctx)
    ref.train_epoch(model, batches(ctx), 0.1, (w, b))
    return [w.detach(), b.detach()]


def expected_validation(ctx):
    """The reference validate_epoch on the same batches."""
    model, _, _ = reference_model(ctx)
    return ref.validate_epoch(model, batches(ctx))


def trained_stats(ctx):
    """Mean and spread of the 20-epoch linear model's accuracy over seeds, and seed 0's curve (cached on disk)."""
    def compute():
        runs = [ref.train_linear(cached_sample_xy(ctx.data_dir), epochs=20, lr=1.0, seed=seed) for seed in range(3)]
        finals = torch.tensor([run.valid_accuracies[-1] for run in runs])
        return {"mean": float(finals.mean()), "std": float(finals.std()), "curve": runs[0].valid_accuracies}
    return cached_json("linear-trained", {"seeds": 3, "epochs": 20, "lr": 1.0, "data": data_key(ctx.data_dir)},
                       compute, modules=("reference.linear", "reference.baseline"))


def validation_accuracy(student, ctx):
    """Accuracy of the student's trained weights and bias on the validation set, measured here."""
    xy = cached_sample_xy(ctx.data_dir)
    weights, bias = student["weights"].reshape(28 * 28, 1).float(), student["bias"].reshape(-1).float()
    return ref.batch_accuracy(xy.valid_x @ weights + bias, xy.valid_y).item()


def accuracy_curve(student, expected, ctx):
    """Figure: the student's accuracy per epoch over the reference run's."""
    series = {"reference (seed 0)": expected["curve"]}
    if isinstance(student.get("accuracies"), list):
        series["yours"] = [float(a) for a in student["accuracies"]]
    return [Figure("curves", "validation accuracy per epoch", {"x_label": "epoch", "y_label": "accuracy",
                                                                "series": series})]


ASSIGNMENT = Assignment(name="linear", title="A linear model trained by SGD", cell_timeout=300,
                        also_matches=("04_mnist_basics",), checks=(
    Check("train_xy", points=2, fetch=Script(TRAIN_XY, requires=("train_x", "train_y", "valid_x", "valid_y")),
          compare=Each(Tensor(atol=1e-5), labels=("train_x", "train_y", "valid_y shape", "valid 3s mean",
                                                  "valid 7s mean", "valid 3s row sums", "valid 7s row sums")),
          expected=expected_xy,
          hint="Concatenate the 3s then the 7s, flatten each image to 784 values; targets are 1 for a 3, as a column"),
    Check("init_params", points=1, fetch=Script(INIT_PARAMS, requires=("init_params",)),
          compare=Each((Tensor(), Scalar()), labels=("values", "requires_grad")),
          inputs=lambda gen: {"seed": torch.randint(0, 2**31 - 1, (), generator=gen)}, expected=expected_init,
          hint="init_params(size, std) returns (torch.randn(size) * std).requires_grad_()"),
    Check("linear1", points=2, fetch=Script(LINEAR1, requires=("linear1",)), compare=Tensor(rtol=1e-4, atol=1e-5),
          inputs=batch_inputs, expected=lambda ctx: reference_model(ctx)[0](ctx.inputs["x"]).detach(),
          hint="linear1(xb) is xb @ weights + bias"),
    Check("sigmoid", points=1, fetch=Call("sigmoid", "x"), compare=Tensor(rtol=1e-5, atol=1e-6),
          inputs=lambda gen: {"x": torch.randn(50, generator=gen) * 4}, expected=lambda ctx: ref.sigmoid(ctx.inputs["x"]),
          hint="sigmoid(x) = 1 / (1 + exp(-x))"),
    Check("mnist_loss", points=3, fetch=Script(WITH_SIGMOID.format(name="mnist_loss", keys=("predictions", "targets")),
                                               requires=("mnist_loss",)), compare=Scalar(rtol=1e-5),
          inputs=lambda gen: {"predictions": torch.randn(16, 1, generator=gen) * 3,
                              "targets": torch.randint(0, 2, (16, 1), generator=gen)},
          expected=lambda ctx: ref.mnist_loss(ctx.inputs["predictions"], ctx.inputs["targets"]),
          hint="Apply sigmoid to the raw predictions first, then take torch.where(targets==1, 1-p, p).mean()"),
    Check("batch_accuracy", points=2, fetch=Script(WITH_SIGMOID.format(name="batch_accuracy", keys=("x", "y")),
                                                   requires=("batch_accuracy",)), compare=Scalar(atol=1e-6),
          inputs=accuracy_inputs, expected=lambda ctx: ref.batch_accuracy(ctx.inputs["x"], ctx.inputs["y"]),
          hint="A prediction is a 3 when its sigmoid is above 0.5; accuracy is the mean of correct ones"),
    Check("calc_grad", points=2, fetch=Script(CALC_GRAD, requires=("calc_grad",)),
          compare=Each(Tensor(rtol=1e-4, atol=1e-6), labels=("weights.grad", "bias.grad")),
          inputs=batch_inputs, expected=expected_grads,
          hint="calc_grad runs the model, computes mnist_loss and calls backward"),
    Check("train_epoch", points=3, fetch=Script(TRAIN_EPOCH, requires=("train_epoch",)),
          compare=Each(Tensor(rtol=1e-4, atol=1e-5), labels=("weights", "bias")), inputs=epoch_inputs,
          expected=expected_epoch,
          hint="For each batch: calc_grad, then p.data -= p.grad * lr and zero the gradient for every parameter"),
    Check("validate_epoch", points=2, fetch=Script(VALIDATE_EPOCH, requires=("validate_epoch",)),
          compare=Scalar(atol=1e-4), inputs=batch_inputs, expected=expected_validation,
          hint="validate_epoch averages batch_accuracy over valid_dl and rounds to 4 places; compute it, don't type it"),
    Check("trained_accuracy", points=3, fetch=Script(TRAINED, requires=("weights", "bias")),
          compare=Accuracy(sigmas=3, min_std=0.005, chance=0.9, measure=validation_accuracy), expected=trained_stats,
          figures=accuracy_curve, timeout=300,
          hint="Train weights and bias for 20 epochs with lr=1 so that the model separates 3s from 7s"),
))
