"""Checks for `sgd`: autograd on x², the quadratic model, mse, one SGD step, and a falling loss."""
import torch

from grader.checks import Assignment, Call, Check, Figure, LossDecreasing, Scalar, Script, Tensor, Value
from reference import sgd as ref

APPLY_STEP = """
params = inputs['params'].clone().requires_grad_()
with swap(ns, time=inputs['time'].clone(), speed=inputs['speed'].clone(), lr=1e-5):
    for _ in range(3):
        ns['apply_step'](params, False)
result = params.detach()
"""


def stepped(ctx):
    """The reference params after three steps on the same data."""
    params = ctx.inputs["params"].clone().requires_grad_()
    for _ in range(3):
        ref.apply_step(params, ctx.inputs["time"], ctx.inputs["speed"], lr=1e-5)
    return params.detach()


def speeds(gen):
    """A fresh roller-coaster: time 0..19 and noisy quadratic speeds, with starting params."""
    time = torch.arange(0, 20).float()
    speed = torch.randn(20, generator=gen) * 3 + 0.75 * (time - 9.5) ** 2 + 1
    return {"time": time, "speed": speed, "params": torch.randn(3, generator=gen)}


def loss_curve(student, expected, ctx):
    """Figure: the student's losses over the steps."""
    return [Figure("curves", "loss at each step", {"x_label": "step", "y_label": "mse",
                                                   "series": {"yours": [float(v) for v in student]}})]


ASSIGNMENT = Assignment(name="sgd", title="Autograd and SGD", cell_timeout=300, also_matches=("04_mnist_basics",),
                        checks=(
    Check("vector_grad", points=1, fetch=Value("xt.grad"), compare=Tensor(),
          expected=lambda ctx: ref.gradient_at(ref.sum_of_squares, torch.tensor([3.0, 4.0, 10.0])),
          hint="Make xt = tensor([3.,4.,10.]) require grad, sum its squares, call backward, read xt.grad"),
    Check("quadratic", points=2, fetch=Call("f", "t", "params"), compare=Tensor(rtol=1e-5, atol=1e-4),
          inputs=lambda gen: {"t": torch.arange(0, 20).float(), "params": torch.randn(3, generator=gen)},
          expected=lambda ctx: ref.quadratic(ctx.inputs["t"], ctx.inputs["params"]),
          hint="f(t, params) unpacks a, b, c from params and returns a*t**2 + b*t + c"),
    Check("mse", points=1, fetch=Call("mse", "preds", "targets"), compare=Scalar(rtol=1e-5),
          inputs=lambda gen: {"preds": torch.randn(20, generator=gen), "targets": torch.randn(20, generator=gen)},
          expected=lambda ctx: ref.mse(ctx.inputs["preds"], ctx.inputs["targets"]),
          hint="mse is the mean of the squared differences"),
    Check("apply_step", points=3, fetch=Script(APPLY_STEP, requires=("apply_step",)),
          compare=Tensor(rtol=1e-4, atol=1e-6), inputs=speeds, expected=stepped,
          hint="Each step: predict, loss, backward, params.data -= lr * grad, then reset the gradient"),
    Check("losses_fall", points=1, fetch=Value("losses"), compare=LossDecreasing(), figures=loss_curve,
          hint="Keep the loss of each of the 10 steps in a list `losses`"),
))
