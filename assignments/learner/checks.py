"""Checks for `learner`: BasicOptim, the optimiser-based loop, fastai SGD, and simple_net trained by a Learner."""

import torch

from grader.checks import Accuracy, Assignment, Check, Each, Equal, Figure, LossDecreasing, Scalar, Script, Tensor, Visibility, cached_json
from reference import learner as ref
from reference.linear import batch_accuracy
from reference.check_support import KERNEL_HELPERS, LINEAR_START, batch_inputs, epoch_inputs, cached_sample_xy, data_key

BASIC_OPTIM = """
p = inputs['param'].clone().requires_grad_()
p.grad = inputs['grad'].clone()
opt = ns['BasicOptim']([p], 0.5)
opt.step()
after_step = p.detach().clone()
opt.zero_grad()
result = [after_step, float(p.grad is None or bool((p.grad == 0).all()))]
"""

TRAIN_EPOCH = KERNEL_HELPERS + LINEAR_START + """
import inspect
train_epoch = ns['train_epoch']
with swap(ns, dl=batches, calc_grad=ref_calc_grad, mnist_loss=ref_loss, opt=RefOptim((w, b), 0.1)):
    if len(inspect.signature(train_epoch).parameters) >= 3:
        train_epoch(model, 0.1, (w, b))
    else:
        train_epoch(model)
result = [w.detach(), b.detach()]
"""

MODULE_WEIGHTS = "result = {{name: value for name, value in ns[{name!r}].state_dict().items()}}"


def basic_optim_inputs(gen):
    """A parameter and a gradient to step with."""
    return {"param": torch.randn(5, 3, generator=gen), "grad": torch.randn(5, 3, generator=gen)}


def expected_epoch(ctx):
    """Weights after one epoch of the reference optimiser loop at lr 0.1."""
    from reference.linear import linear1

    w = ctx.inputs["weights"].clone().requires_grad_()
    b = ctx.inputs["bias"].clone().requires_grad_()
    batches = list(zip(ctx.inputs["x"].split(8), ctx.inputs["y"].split(8)))
    ref.train_epoch(lambda xb: linear1(xb, w, b), batches, ref.BasicOptim((w, b), 0.1))
    return [w.detach(), b.detach()]


def sgd_stats(ctx):
    """Accuracy of nn.Linear trained 20 epochs by fastai's SGD, over seeds (cached on disk)."""
    def compute():
        finals = torch.tensor([ref.train_linear_module(cached_sample_xy(ctx.data_dir), opt_name="sgd", seed=s)[-1] for s in range(3)])
        return {"mean": float(finals.mean()), "std": float(finals.std())}
    return cached_json("learner-sgd", {"seeds": 3, "data": data_key(ctx.data_dir)}, compute,
                       modules=("reference.learner", "reference.linear"))


def simple_net_stats(ctx):
    """Accuracy of simple_net after Learner.fit(40, 0.1), over seeds, and seed 0's curves (cached on disk)."""
    def compute():
        runs = [ref.train_simple_net(cached_sample_xy(ctx.data_dir), epochs=40, lr=0.1, seed=s) for s in range(2)]
        finals = torch.tensor([run.valid_accuracies[-1] for run in runs])
        return {"mean": float(finals.mean()), "std": float(finals.std()), "curve": runs[0].valid_accuracies,
                "train_losses": runs[0].train_losses}
    return cached_json("learner-simple-net", {"seeds": 2, "epochs": 40, "data": data_key(ctx.data_dir)}, compute,
                       modules=("reference.learner", "reference.linear"))


def linear_accuracy(student, ctx):
    """Validation accuracy of the student's trained nn.Linear(784, 1), measured here."""
    data = cached_sample_xy(ctx.data_dir)
    return batch_accuracy(data.valid_x @ student["weight"].float().T + student["bias"].float(), data.valid_y).item()


def simple_net_accuracy(student, ctx):
    """Validation accuracy of the student's trained Linear → ReLU → Linear, measured here."""
    data = cached_sample_xy(ctx.data_dir)
    weights = [v.float() for k, v in sorted(student.items()) if k.endswith("weight")]
    biases = [v.float() for k, v in sorted(student.items()) if k.endswith("bias")]
    hidden = (data.valid_x @ weights[0].T + biases[0]).clamp_min(0)
    return batch_accuracy(hidden @ weights[1].T + biases[1], data.valid_y).item()


def loss_curves(student, expected, ctx):
    """Figure: the student's recorded training losses."""
    return [Figure("curves", "training loss per batch", {"x_label": "batch", "y_label": "loss",
                                                        "series": {"yours": [float(v) for v in student]}})]


def accuracy_curves(student, expected, ctx):
    """Figure: the reference simple_net's validation accuracy per epoch."""
    return [Figure("curves", "simple_net validation accuracy per epoch (reference, seed 0)",
                   {"x_label": "epoch", "y_label": "accuracy", "series": {"reference": expected["curve"]}})]


ASSIGNMENT = Assignment(name="learner", title="From BasicOptim to fastai's Learner", cell_timeout=600,
                        also_matches=("04_mnist_basics",), checks=(
    Check("basic_optim", points=3, fetch=Script(BASIC_OPTIM, requires=("BasicOptim",)),
          compare=Each((Tensor(rtol=1e-5, atol=1e-6), Scalar()), labels=("after step", "gradient cleared")),
          inputs=basic_optim_inputs,
          expected=lambda ctx: [ctx.inputs["param"] - ctx.inputs["grad"] * 0.5, 1.0],
          hint="step() does p.data -= p.grad.data * lr for every parameter; zero_grad() clears every gradient"),
    Check("train_epoch", points=2, fetch=Script(TRAIN_EPOCH, requires=("train_epoch",)),
          compare=Each(Tensor(rtol=1e-4, atol=1e-5), labels=("weights", "bias")), inputs=epoch_inputs,
          expected=expected_epoch, hint="For each batch of dl: calc_grad, opt.step(), opt.zero_grad()"),
    Check("linear_model_trained", points=2, fetch=Script(MODULE_WEIGHTS.format(name="linear_model"),
                                                         requires=("linear_model",)),
          compare=Accuracy(sigmas=3, min_std=0.005, chance=0.9, measure=linear_accuracy), expected=sgd_stats,
          hint="Train linear_model = nn.Linear(28*28, 1) for 20 epochs with train_model"),
    Check("simple_net_shapes", points=1, fetch=Script("result = [list(ns[n].shape) for n in ('w1', 'b1', 'w2', 'b2')]",
                                                      requires=("w1", "b1", "w2", "b2")),
          compare=Equal(), expected=lambda ctx: [[784, 30], [30], [30, 1], [1]],
          hint="w1: (28*28, 30), b1: 30, w2: (30, 1), b2: 1"),
    Check("simple_net_trained", points=3, fetch=Script(MODULE_WEIGHTS.format(name="simple_net"), requires=("simple_net",)),
          compare=Accuracy(sigmas=3, min_std=0.005, chance=0.9, measure=simple_net_accuracy), expected=simple_net_stats,
          figures=accuracy_curves, timeout=300,
          hint="simple_net = nn.Sequential(nn.Linear(28*28,30), nn.ReLU(), nn.Linear(30,1)), fitted 40 epochs at 0.1"),
    Check("learner_loss_falls", points=1, fetch=Script("result = [float(v) for v in ns['learn'].recorder.losses]",
                                                       requires=("learn",)),
          compare=LossDecreasing(), figures=loss_curves, visibility=Visibility.HIDDEN,
          hint="Fit a Learner so that learn.recorder holds its training losses"),
))
