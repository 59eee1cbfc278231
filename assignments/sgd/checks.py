"""Checks for `sgd`: autograd on x², the quadratic model, mse, one SGD step, and a loop that makes the loss fall.

apply_step runs with the reference model and loss in place of the student's `f` and `mse`, and the loop
with the reference step, so that each mistake costs the one check of the step that holds it.
"""
import torch

from grader.checks import Assignment, Call, Check, Figure, LossDecreasing, Scalar, Script, Tensor, Value
from reference import sgd as ref

# The reference model and loss, so that apply_step (and the loop that repeats it) is judged on its own.
REF_PIECES = """
import inspect

def ref_f(t, params):
    return params[0] * t ** 2 + params[1] * t + params[2]

def ref_mse(preds, targets):
    return torch.nn.functional.mse_loss(preds, targets)

def quietly(step):
    # the book's apply_step(params, False), or apply_step(params) when it takes params alone
    takes = len(inspect.signature(step).parameters)
    return (lambda params: step(params, False)) if takes >= 2 else step

pieces = dict(time=inputs['time'].clone(), speed=inputs['speed'].clone(), lr=1e-5, f=ref_f, mse=ref_mse)
"""

APPLY_STEP = REF_PIECES + """
params = inputs['params'].clone().requires_grad_()
with swap(ns, **pieces):
    step = quietly(ns['apply_step'])
    for _ in range(3):
        step(params)
result = params.detach()
"""

# The student's own loop (`for i in range(10): apply_step(params)`), re-run from fresh params with the
# reference step, which keeps the loss of every step: the loop is what is judged here.
LOSSES_FALL = REF_PIECES + """
loop = None
for text in cells:  # the first loop over apply_step, in notebook order; one that does not parse never ran
    if 'apply_step' in text and ('for ' in text or 'while ' in text) and not statements([text]):
        first = next(line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith('#'))
        raise NeverRan(f"the cell with {first!r} does not parse, so its loop never ran")
    loop = loop_calling([text], 'apply_step', given)
    if loop is not None:
        break
if loop is None:
    raise LookupError('no loop in this notebook repeats apply_step')
seen = []

def apply_step(params, *args, **kwargs):
    preds = ref_f(pieces['time'], params)
    loss = ref_mse(preds, pieces['speed'])
    step, = torch.autograd.grad(loss, params)
    params.data.sub_(1e-5 * step)
    seen.append(loss.item())
    return preds

with swap(ns, apply_step=apply_step, params=inputs['params'].clone().requires_grad_(), **pieces):
    exec(loop, ns)
result = seen
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
    """Figure: the losses over the steps of the student's loop."""
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
    Check("losses_fall", points=1, fetch=Script(LOSSES_FALL, requires=("apply_step",)), compare=LossDecreasing(),
          inputs=speeds, figures=loss_curve, hint="Repeat apply_step in a loop, e.g. for i in range(10): apply_step(params)"),
))
