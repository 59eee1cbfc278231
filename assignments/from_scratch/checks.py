"""Checks for `from_scratch` (Further Research 1): a Learner with a recorder and callbacks, written by hand."""
from types import SimpleNamespace

import torch
from torch import nn

from grader.checks import Accuracy, Assignment, Check, Each, Equal, Script, Tensor, cached_json
from reference import from_scratch as ref
from reference.learner import BasicOptim, sample_dataloaders
from reference.linear import batch_accuracy, mnist_loss
from reference.check_support import KERNEL_HELPERS, cached_sample_xy, data_key

# A tiny run of the student's Learner: fixed starting weights, generated batches, the chapter's loss.
FIT = KERNEL_HELPERS + """
from types import SimpleNamespace

model = torch.nn.Linear(28 * 28, 1)
with torch.no_grad():
    model.weight.copy_(inputs['weight'])
    model.bias.copy_(inputs['bias'])
dls = SimpleNamespace(train=list(zip(inputs['x'].split(8), inputs['y'].split(8))),
                      valid=list(zip(inputs['vx'].split(8), inputs['vy'].split(8))))
learn = ns['Learner'](dls, model, opt_func=RefOptim, loss_func=ref_loss, metrics=ref_accuracy)
learn.fit(2, 0.5)
"""

WEIGHTS = FIT + "result = [model.weight.detach(), model.bias.detach()]"
RECORDED = FIT + "result = torch.tensor([[float(v) for v in row] for row in learn.recorder.values])"
CALLBACKS = FIT.replace("learn = ns['Learner'](dls, model, opt_func=RefOptim, loss_func=ref_loss, metrics=ref_accuracy)\n"
                        "learn.fit(2, 0.5)\n", """
counts = {'before_fit': 0, 'before_epoch': 0, 'before_batch': 0, 'after_batch': 0, 'after_epoch': 0, 'after_fit': 0}

class Counter(ns['Callback']):
    pass

for hook in counts:
    setattr(Counter, hook, (lambda name: lambda self, learn: counts.__setitem__(name, counts[name] + 1))(hook))
learn = ns['Learner'](dls, model, opt_func=RefOptim, loss_func=ref_loss, metrics=ref_accuracy, cbs=[Counter()])
learn.fit(2, 0.5)
result = [counts[hook] for hook in ('before_fit', 'before_epoch', 'before_batch', 'after_batch', 'after_epoch', 'after_fit')]
""")

TRAINED = "result = {name: value for name, value in ns['model'].state_dict().items()}"


def fit_inputs(gen):
    """Training and validation batches (3 and 2 batches of 8) and starting weights."""
    return {"x": torch.rand(24, 28 * 28, generator=gen), "y": torch.randint(0, 2, (24, 1), generator=gen),
            "vx": torch.rand(16, 28 * 28, generator=gen), "vy": torch.randint(0, 2, (16, 1), generator=gen),
            "weight": torch.randn(1, 28 * 28, generator=gen) * 0.05, "bias": torch.randn(1, generator=gen)}


def reference_fit(ctx):
    """The reference Learner on the same batches and starting weights."""
    model = nn.Linear(28 * 28, 1)
    with torch.no_grad():
        model.weight.copy_(ctx.inputs["weight"])
        model.bias.copy_(ctx.inputs["bias"])
    dls = SimpleNamespace(train=list(zip(ctx.inputs["x"].split(8), ctx.inputs["y"].split(8))),
                          valid=list(zip(ctx.inputs["vx"].split(8), ctx.inputs["vy"].split(8))))
    learn = ref.Learner(dls, model, loss_func=mnist_loss, opt_func=BasicOptim, metrics=batch_accuracy)
    learn.fit(2, 0.5)
    return model, learn


def trained_stats(ctx):
    """Accuracy of nn.Linear fitted 10 epochs at lr 1 by the reference Learner, over seeds (cached on disk)."""
    def compute():
        finals = []
        for seed in range(3):
            torch.manual_seed(seed)
            learn = ref.Learner(sample_dataloaders(cached_sample_xy(ctx.data_dir)), nn.Linear(28 * 28, 1), loss_func=mnist_loss,
                                metrics=batch_accuracy)
            learn.fit(10, 1.0)
            finals.append(learn.recorder.values[-1][2])
        finals = torch.tensor(finals)
        return {"mean": float(finals.mean()), "std": float(finals.std())}
    data = data_key(ctx.data_dir)
    return cached_json("from-scratch-trained", {"seeds": 3, "epochs": 10, "data": data}, compute,
                       modules=("reference.from_scratch", "reference.learner", "reference.linear"))


def linear_accuracy(student, ctx):
    """Validation accuracy of the student's trained nn.Linear(784, 1), measured here."""
    data = cached_sample_xy(ctx.data_dir)
    return batch_accuracy(data.valid_x @ student["weight"].float().T + student["bias"].float(), data.valid_y).item()


ASSIGNMENT = Assignment(name="from_scratch", title="A Learner from scratch", cell_timeout=600, checks=(
    Check("learner_trains", points=4, fetch=Script(WEIGHTS, requires=("Learner",)),
          compare=Each(Tensor(rtol=1e-4, atol=1e-5), labels=("weight", "bias")), inputs=fit_inputs,
          expected=lambda ctx: [p.detach() for p in reference_fit(ctx)[0].parameters()],
          hint="fit: make opt_func(model.parameters(), lr); each training batch: predict, loss, backward, step, zero_grad"),
    Check("recorder_values", points=3, fetch=Script(RECORDED, requires=("Learner",)),
          compare=Tensor(rtol=1e-3, atol=1e-4), inputs=fit_inputs,
          expected=lambda ctx: torch.tensor(reference_fit(ctx)[1].recorder.values),
          hint="The recorder keeps, per epoch, [mean train loss, mean valid loss, mean metric on valid]"),
    Check("callbacks_called", points=2, fetch=Script(CALLBACKS, requires=("Learner", "Callback")),
          compare=Equal(), inputs=fit_inputs, expected=lambda ctx: [1, 2, 10, 10, 2, 1],
          hint="Call every callback's before_fit/before_epoch/before_batch/after_batch/after_epoch/after_fit"),
    Check("trained_accuracy", points=2, fetch=Script(TRAINED, requires=("model",)),
          compare=Accuracy(sigmas=3, min_std=0.005, chance=0.9, measure=linear_accuracy), expected=trained_stats, timeout=300,
          hint="Fit nn.Linear(28*28, 1) with your Learner for 10 epochs at lr 1"),
))
