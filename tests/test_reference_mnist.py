"""Reference steps on the real MNIST pixels: the book's printed values and where its trained runs land."""
from __future__ import annotations

import copy
import json

import pytest
import torch

from conftest import run_grader
from reference import baseline, from_scratch, full_mnist, learner, linear, run


@pytest.fixture(scope="module")
def sample(data_dir):
    return baseline.load_sample(data_dir=data_dir)


@pytest.fixture(scope="module")
def xy(sample):
    return linear.sample_xy(sample)


def test_sample_loads_in_the_chapters_order(sample):
    assert sample.threes.shape == (6131, 28, 28) and sample.sevens.shape == (6265, 28, 28)
    assert sample.valid_threes.shape == (1010, 28, 28) and sample.valid_sevens.shape == (1028, 28, 28)
    assert 0 <= sample.threes.min() and sample.threes.max() <= 1


def test_baseline_reproduces_the_books_printed_values(sample):
    figures = {name: round(value, 4) for name, value in baseline.baseline_figures(sample).items()}
    assert figures == {"dist_3_abs": 0.1114, "dist_3_sqr": 0.2021, "dist_7_abs": 0.1586, "dist_7_sqr": 0.3021,
                       "accuracy_3s": 0.9168, "accuracy_7s": 0.9854, "accuracy": 0.9511}


def test_library_distances_agree_with_torch_losses(sample):
    mean7, a_3 = baseline.ideal_digit(sample.sevens), sample.threes[1]
    assert baseline.l1_distance(a_3, mean7) == torch.nn.functional.l1_loss(a_3, mean7)
    assert torch.isclose(baseline.rmse_distance(a_3, mean7), torch.nn.functional.mse_loss(a_3, mean7).sqrt())
    assert baseline.mnist_distance(sample.valid_threes, baseline.ideal_digit(sample.threes)).shape == (1010,)


def test_sample_xy_shapes(xy):
    assert xy.train_x.shape == (12396, 784) and xy.train_y.shape == (12396, 1)
    assert xy.train_y[:6131].eq(1).all() and xy.train_y[6131:].eq(0).all()
    assert xy.valid_x.shape == (2038, 784)


def test_linear_model_lands_where_the_book_does(xy):
    first, again = (linear.train_linear(xy, epochs=20, lr=1.0, batch_size=256, seed=0) for _ in range(2))
    assert first.valid_accuracies == again.valid_accuracies
    assert len(first.valid_accuracies) == 20 and first.valid_accuracies[-1] >= 0.955
    assert first.valid_accuracies[-1] > first.initial_accuracy and first.train_losses[-1] < first.train_losses[0]


def test_basic_optim_and_fastai_sgd_train_identically(xy):
    basic = learner.train_linear_module(xy, opt_name="basic", epochs=5, seed=1)
    fastai_sgd = learner.train_linear_module(xy, opt_name="sgd", epochs=5, seed=1)
    assert basic == fastai_sgd and basic[-1] > 0.9


def test_learner_fit_and_simple_net(xy):
    dls = learner.sample_dataloaders(xy)
    fitted = learner.fit_quietly(learner.linear_learner(dls, seed=0), 10, 1.0)
    assert len(fitted.valid_accuracies) == 10 and fitted.valid_accuracies[-1] >= 0.95
    net = learner.train_simple_net(xy, epochs=40, lr=0.1, seed=0)
    assert net.valid_accuracies[-1] >= 0.975 and net.train_losses[-1] < net.train_losses[0]


def test_from_scratch_learner_matches_fastai_weights(xy):
    from fastai.learner import Learner as FastaiLearner
    from fastai.optimizer import SGD

    dls = learner.sample_dataloaders(xy)
    torch.manual_seed(0)
    ours = learner.simple_net_module()
    theirs = copy.deepcopy(ours)
    mine = from_scratch.Learner(dls, ours, loss_func=linear.mnist_loss, metrics=linear.batch_accuracy)
    mine.fit(3, 0.1)
    reference = FastaiLearner(dls, theirs, opt_func=SGD, loss_func=linear.mnist_loss, metrics=linear.batch_accuracy)
    with reference.no_bar(), reference.no_logging():
        reference.fit(3, 0.1)
    for name, weight in from_scratch.snapshot(ours).items():
        assert torch.allclose(weight, from_scratch.snapshot(theirs)[name], atol=1e-6), name
    for mine_row, their_row in zip(mine.recorder.values, reference.recorder.values):
        assert mine_row[1:] == pytest.approx([float(v) for v in their_row[1:]], abs=1e-5)


def test_full_mnist_reaches_the_targets(data_dir):
    data = full_mnist.load_full_mnist(data_dir=data_dir)
    assert data.train_x.shape == (60000, 784) and data.test_x.shape == (10000, 784)
    pixel = full_mnist.pixel_similarity(data)
    assert 0.6 < pixel.accuracy < 0.75
    linear_run = full_mnist.train_full_linear(data, seed=0)
    mlp_run = full_mnist.train_full_mlp(data, seed=0)
    assert linear_run.accuracy >= 0.91 and mlp_run.accuracy >= 0.98
    assert mlp_run.confusion.shape == (10, 10) and mlp_run.confusion.sum() == 10000
    assert mlp_run.confusion.sum(1).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_grader_reference_command_writes_json(fastai_home, tmp_path):
    out = tmp_path / "reference.json"
    done = run_grader("reference", "--device", "cpu", "--steps", "baseline", "--steps", "sgd", "--json", str(out),
                      env={"FASTAI_HOME": str(fastai_home)})
    assert done.returncode == 0, done.stderr
    assert "dist_3_abs" in done.stdout and "0.1114" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["device"] == "cpu"
    assert round(figures["steps"]["baseline"]["accuracy_3s"], 4) == 0.9168
    assert figures["steps"]["sgd"]["grad_at_3"] == 6.0


def test_grader_reference_rejects_unknown_steps(fastai_home):
    done = run_grader("reference", "--steps", "nonsense", env={"FASTAI_HOME": str(fastai_home)})
    assert done.returncode != 0 and "unknown step" in done.stderr


@pytest.mark.slow
def test_trained_distributions_over_three_seeds(data_dir):
    stats = run.trained_distributions(data_dir=data_dir, device="cpu", seeds=3)
    assert stats["linear"]["valid_accuracy"].mean >= 0.955 and len(stats["linear"]["valid_accuracy"].values) == 3
    assert stats["simple_net"]["valid_accuracy"].mean >= 0.975
    assert min(stats["full_mnist"]["mlp_accuracy"].values) >= 0.98
    assert min(stats["full_mnist"]["linear_accuracy"].values) >= 0.91


@pytest.mark.slow
def test_resnet18_one_cycle_reaches_the_books_accuracy(data_dir):
    from reference.resnet import train_resnet18

    assert train_resnet18(data_dir=data_dir, seed=0, device="auto").valid_accuracies[-1] >= 0.98


def test_grader_reference_help_lists_every_option():
    done = run_grader("reference", "--help")
    assert done.returncode == 0
    for option in ("--device", "--seeds", "--json", "--steps", "--include-resnet"):
        assert option in done.stdout
