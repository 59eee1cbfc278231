"""Reference functions on small inputs whose answers can be worked out by hand (no MNIST needed)."""
from __future__ import annotations

from functools import partial

import pytest
import torch

from grader.exceptions import GraderError
from reference import baseline, from_scratch, full_mnist, learner, linear, run, sgd, tensor_basics
from reference.device import make_generator, resolve_device


def test_resolve_device_auto_and_cpu():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_resolve_device_refuses_unknown_names():
    with pytest.raises(GraderError, match="unknown device"):
        resolve_device("tpu")


def test_distances_on_a_two_pixel_image():
    a, b = torch.tensor([[0.0, 1.0]]), torch.tensor([[1.0, 1.0]])
    assert baseline.l1_distance(a, b).item() == pytest.approx(0.5)
    assert baseline.rmse_distance(a, b).item() == pytest.approx(0.5 ** 0.5)


def test_mnist_distance_broadcasts_over_leading_axes():
    stack, ideal = torch.zeros(5, 28, 28), torch.full((28, 28), 0.25)
    stack[2] = 1.0
    distances = baseline.mnist_distance(stack, ideal)
    assert distances.shape == (5,)
    assert distances.tolist() == pytest.approx([0.25, 0.25, 0.75, 0.25, 0.25])
    assert (stack - ideal).shape == (5, 28, 28)


def test_is_3_and_accuracies_pick_the_nearer_ideal():
    mean3, mean7 = torch.zeros(2, 2), torch.ones(2, 2)
    images = torch.stack([torch.full((2, 2), v) for v in (0.1, 0.4, 0.6, 0.9)])
    assert baseline.is_3(images, mean3, mean7).tolist() == [True, True, False, False]
    assert baseline.accuracy_3s(images, mean3, mean7).item() == pytest.approx(0.5)
    assert baseline.accuracy_7s(images[2:], mean3, mean7).item() == pytest.approx(1.0)


def test_ideal_digit_is_the_mean_over_the_first_axis():
    stack = torch.stack([torch.zeros(2, 2), torch.ones(2, 2)])
    assert torch.equal(baseline.ideal_digit(stack), torch.full((2, 2), 0.5))
    assert baseline.to_float(torch.tensor([0, 255], dtype=torch.uint8)).tolist() == [0.0, 1.0]


def test_tensor_basics_answers():
    tns = tensor_basics.example_tensor()
    assert tensor_basics.row(tns, 1).tolist() == [4, 5, 6]
    assert tensor_basics.column(tns, 1).tolist() == [2, 5]
    assert tensor_basics.rank(torch.zeros(6131, 28, 28)) == 3
    assert tensor_basics.double_odds([1, 2, 3, 4, 5]) == [2, 6, 10]
    doubled = tensor_basics.one_to_nine() * 2
    assert tensor_basics.bottom_right(doubled).tolist() == [[10, 12], [16, 18]]
    assert tensor_basics.pair_up([1, 2, 3, 4], "abcd") == [(1, "a"), (2, "b"), (3, "c"), (4, "d")]


def test_activation_curves():
    x, y = tensor_basics.sigmoid_curve()
    assert x[0] == -4 and y[len(y) // 2 - 1] < 0.5 < y[len(y) // 2]
    x, y = tensor_basics.relu_curve()
    assert torch.equal(y, x.clamp(min=0))


def test_quadratic_gradients_match_the_chapter():
    assert sgd.gradient_at(sgd.f, torch.tensor(3.0)).item() == 6.0
    assert sgd.gradient_at(sgd.sum_of_squares, torch.tensor([3.0, 4.0, 10.0])).tolist() == [6.0, 8.0, 20.0]


def test_one_sgd_step_by_hand():
    time, speed = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 3.0])
    params = torch.tensor([0.0, 0.0, 0.0], requires_grad=True)
    loss = sgd.apply_step(params, time, speed, lr=0.1)
    # preds are 0, so loss = (1 + 9) / 2; d/dc = -(1 + 3) = -4, d/db = -3, d/da = -3
    assert loss.item() == pytest.approx(5.0)
    assert params.detach().tolist() == pytest.approx([0.3, 0.3, 0.4])
    assert params.grad is None


def test_seven_steps_is_seeded_and_lowers_the_loss():
    first, again = sgd.seven_steps(seed=3), sgd.seven_steps(seed=3)
    assert first.losses == again.losses and torch.equal(first.final_params, again.final_params)
    assert first.losses[-1] < first.losses[0]
    assert sgd.mse(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])).item() == 2.0


def test_init_params_shape_std_and_seed():
    a = linear.init_params((784, 1), std=0.5, generator=make_generator(1))
    b = linear.init_params((784, 1), std=0.5, generator=make_generator(1))
    assert a.shape == (784, 1) and a.requires_grad and torch.equal(a, b)
    assert 0.4 < a.std().item() < 0.6


def test_linear1_is_matrix_product_plus_bias():
    xb, weights, bias = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[1.0], [-1.0]]), torch.tensor([0.5])
    assert linear.linear1(xb, weights, bias).tolist() == [[-0.5], [-0.5]]


def test_sigmoid_matches_torch():
    x = torch.linspace(-5, 5, 11)
    assert torch.allclose(linear.sigmoid(x), torch.sigmoid(x))
    assert linear.sigmoid(torch.tensor(0.0)).item() == 0.5


def test_mnist_loss_on_the_chapters_three_element_example():
    trgts = torch.tensor([1, 0, 1])
    assert linear.mnist_loss_probabilities(torch.tensor([0.9, 0.4, 0.2]), trgts).item() == pytest.approx(0.4333, abs=5e-5)
    assert linear.mnist_loss_probabilities(torch.tensor([0.9, 0.4, 0.8]), trgts).item() == pytest.approx(0.2333, abs=5e-5)
    raw = torch.logit(torch.tensor([0.9, 0.4, 0.2]))
    assert linear.mnist_loss(raw, trgts).item() == pytest.approx(0.4333, abs=5e-5)


def test_batch_accuracy_thresholds_the_sigmoid_at_a_half():
    preds, targets = torch.tensor([[2.0], [-1.0], [0.5], [-3.0]]), torch.tensor([[1], [1], [0], [0]])
    assert linear.batch_accuracy(preds, targets).item() == 0.5


def test_calc_grad_and_one_epoch_step_by_hand():
    weights, bias = torch.zeros(2, 1, requires_grad=True), torch.zeros(1, requires_grad=True)
    model = partial(linear.linear1, weights=weights, bias=bias)
    xb, yb = torch.tensor([[1.0, 2.0]]), torch.tensor([[1]])
    loss = linear.calc_grad(xb, yb, model)
    # loss = 1 - sigmoid(0) = 0.5; d loss / d pred = -sigmoid'(0) = -0.25
    assert loss.item() == 0.5
    assert weights.grad.flatten().tolist() == [-0.25, -0.5] and bias.grad.item() == -0.25
    weights.grad.zero_(), bias.grad.zero_()
    assert linear.train_epoch(model, [(xb, yb)], 2.0, (weights, bias)) == 0.5
    assert weights.detach().flatten().tolist() == [0.5, 1.0] and bias.item() == 0.5
    assert weights.grad.abs().sum() == 0


def test_batches_and_validate_epoch_round_to_four_places():
    x, y = torch.arange(7.0).view(7, 1), torch.tensor([[1]] * 7)
    assert [len(xb) for xb, _ in linear.batches(x, y, 3)] == [3, 3, 1]
    model = lambda xb: torch.where(xb < 2, torch.ones_like(xb), -torch.ones_like(xb))  # noqa: E731
    assert linear.validate_epoch(model, linear.batches(x, y, 3)) == round((2 / 3 + 0 + 0) / 3, 4)


def test_basic_optim_steps_and_clears():
    p = torch.tensor([1.0, 2.0], requires_grad=True)
    (p * torch.tensor([3.0, 4.0])).sum().backward()
    opt = learner.BasicOptim([p], 0.5)
    opt.step()
    assert p.detach().tolist() == [-0.5, 0.0]
    opt.zero_grad()
    assert p.grad is None


def test_hand_written_simple_net_equals_the_sequential_one():
    w1, b1, w2, b2 = learner.init_simple_net(generator=make_generator(0))
    module = learner.simple_net_module()
    with torch.no_grad():
        module[0].weight.copy_(w1.T), module[0].bias.copy_(b1), module[2].weight.copy_(w2.T), module[2].bias.copy_(b2)
    xb = torch.rand(4, 784, generator=make_generator(1))
    assert torch.allclose(learner.simple_net(xb, w1, b1, w2, b2), module(xb), atol=1e-4)
    assert learner.simple_net(-torch.ones(1, 784), *(torch.zeros_like(t) for t in (w1, b1, w2, b2))).item() == 0


def test_train_model_learns_a_separable_toy_problem():
    torch.manual_seed(0)
    x = torch.cat([torch.full((8, 2), 1.0), torch.full((8, 2), -1.0)])
    y = torch.tensor([[1]] * 8 + [[0]] * 8)
    model = torch.nn.Linear(2, 1)
    dl = linear.batches(x, y, 4)
    accuracies = learner.train_model(model, 5, dl=dl, valid_dl=dl, opt=learner.BasicOptim(model.parameters(), 1.0))
    assert len(accuracies) == 5 and accuracies[-1] == 1.0


def test_class_means_nearest_mean_and_confusion():
    x = torch.tensor([[0.0, 0.0], [0.2, 0.0], [1.0, 1.0], [0.8, 1.0]])
    y = torch.tensor([0, 0, 1, 1])
    means = full_mnist.class_means(x, y, n_classes=2)
    assert torch.allclose(means, torch.tensor([[0.1, 0.0], [0.9, 1.0]]))
    preds = full_mnist.nearest_mean(torch.tensor([[0.4, 0.4], [0.6, 0.7]]), means, chunk=1)
    assert preds.tolist() == [0, 1]
    confusion = full_mnist.confusion_matrix(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1]), n_classes=2)
    assert confusion.tolist() == [[1, 1], [0, 2]]
    assert full_mnist.accuracy(torch.tensor([0, 1, 1, 1]), torch.tensor([0, 0, 1, 1])) == 0.75


def test_shuffled_batches_cover_every_row_once():
    x, y = torch.arange(10.0).view(10, 1), torch.arange(10)
    got = full_mnist.shuffled_batches(x, y, batch_size=4, generator=make_generator(0))
    assert [len(b) for b, _ in got] == [4, 4, 2]
    assert sorted(torch.cat([b for _, b in got]).tolist()) == list(range(10))


def test_train_classifier_on_a_tiny_ten_class_problem():
    x = torch.eye(10).repeat(5, 1) * 3
    y = torch.arange(10).repeat(5)
    data = full_mnist.FullMnist(torch.nn.functional.pad(x, (0, 774)), y, torch.nn.functional.pad(x, (0, 774)), y)
    trained = full_mnist.train_classifier(full_mnist.linear_model(), data, epochs=20, lr=0.5, batch_size=10)
    assert trained.accuracy == 1.0 and trained.confusion.trace() == 50
    assert trained.train_losses[-1] < trained.train_losses[0]


class _Log(from_scratch.Callback):
    def __init__(self):
        self.events = []

    def __getattr__(self, name):
        if name in from_scratch.HOOKS:
            return lambda learn: self.events.append(name)
        raise AttributeError(name)


def test_from_scratch_learner_calls_hooks_in_order_and_records_weighted_means():
    torch.manual_seed(0)
    x, y = torch.randn(5, 784), torch.tensor([[1], [0], [1], [0], [1]])
    dls = (linear.batches(x, y, 3), linear.batches(x, y, 4))
    log = _Log()
    learn = from_scratch.Learner(dls, torch.nn.Linear(784, 1), loss_func=linear.mnist_loss,
                                 metrics=linear.batch_accuracy, cbs=[log])
    learn.fit(1, 0.0)
    assert log.events == ["before_fit", "before_epoch", *["before_batch", "after_loss", "after_batch"] * 2,
                          "before_validate", *["before_batch", "after_loss", "after_batch"] * 2,
                          "after_epoch", "after_fit"]
    with torch.no_grad():
        preds = learn.model(x)
    assert learn.recorder.names == ["train_loss", "valid_loss", "batch_accuracy"]
    assert learn.recorder.values[0] == pytest.approx([linear.mnist_loss(preds, y).item()] * 2
                                                      + [linear.batch_accuracy(preds, y).item()], abs=1e-6)


def test_from_scratch_callback_can_stop_training():
    class StopAfterOne(from_scratch.Callback):
        def after_epoch(self, learn):
            learn.stop = True

    x, y = torch.randn(4, 784), torch.tensor([[1], [0], [1], [0]])
    learn = from_scratch.Learner((linear.batches(x, y, 2),) * 2, torch.nn.Linear(784, 1),
                                 loss_func=linear.mnist_loss, cbs=[StopAfterOne()])
    learn.fit(5, 0.1)
    assert len(learn.recorder.values) == 1


def test_figure_stats_and_step_choice():
    stats = run.FigureStats([0.96, 0.97, 0.98])
    assert stats.mean == pytest.approx(0.97) and stats.std == pytest.approx(0.01)
    assert run.FigureStats([0.5]).std == 0.0
    assert run._chosen(None, include_resnet=False)[-1] == "full_mnist"
    assert run._chosen(["linear", "baseline"], include_resnet=True) == ["baseline", "linear", "resnet"]
    with pytest.raises(GraderError, match="unknown step"):
        run._chosen(["nope"], include_resnet=False)


def _epoch(inputs, *, zero_grads: bool):
    """One lr-0.1 epoch over batches of 8, zeroing the gradients after each step or never."""
    w, b = inputs["weights"].clone().requires_grad_(), inputs["bias"].clone().requires_grad_()
    for xb, yb in zip(inputs["x"].split(8), inputs["y"].split(8)):
        linear.calc_grad(xb, yb, lambda x: linear.linear1(x, w, b))
        for p in (w, b):
            p.data -= p.grad * 0.1
            if zero_grads:
                p.grad.zero_()
    return w.detach(), b.detach()


def test_epoch_inputs_make_unzeroed_gradients_show_in_weights_and_bias():
    from reference.check_support import epoch_inputs

    for seed in range(500):  # plain batch_inputs let about 1 seed in 90 through
        inputs = epoch_inputs(torch.Generator().manual_seed(seed))
        right, unzeroed = _epoch(inputs, zero_grads=True), _epoch(inputs, zero_grads=False)
        for good, bad in zip(right, unzeroed):  # the train_epoch checks' Tensor(rtol=1e-4, atol=1e-5)
            assert not torch.allclose(bad, good, rtol=1e-4, atol=1e-5), seed
