"""The chapter's "Going Deeper" run: resnet18 from scratch on MNIST_SAMPLE for one cycle.

API:
    train_resnet18(*, data_dir: Path | None = None, seed=0, device="auto", epochs=1, lr=0.1) -> LearnerRun
"""
from __future__ import annotations

from pathlib import Path

from reference.device import resolve_device, seed_everything
from reference.learner import LearnerRun


def train_resnet18(*, data_dir: Path | None = None, seed: int = 0, device="auto", epochs: int = 1,
                   lr: float = 0.1) -> LearnerRun:
    """`vision_learner(dls, resnet18, pretrained=False)` + `fit_one_cycle(epochs, lr)` on the sample's folders."""
    from fastai.vision.all import F, ImageDataLoaders, accuracy, resnet18, vision_learner

    from reference.data import default_data_dir

    seed_everything(seed)
    path = Path(data_dir or default_data_dir()) / "mnist_sample"
    dls = ImageDataLoaders.from_folder(path, device=resolve_device(device), seed=seed)
    learn = vision_learner(dls, resnet18, pretrained=False, loss_func=F.cross_entropy, metrics=accuracy)
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(epochs, lr)
    values = learn.recorder.values
    return LearnerRun(*([float(row[i]) for row in values] for i in range(3)))
