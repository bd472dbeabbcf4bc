"""Shared pieces of the server tests: a model-free classifier for the in-process app, and a spawned server."""

from pathlib import Path

import numpy as np
import pytest

from emodraw.errors import DataError
from emodraw.inference.classifier import Classifier

LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]


class FakeClassifier:
    """Answers "joy" for everything, records each model call, and fails any call holding a text with
    "poison" in it -- the way a model call fails when one input breaks it -- or refuses one with "refuse"
    in it (a DataError, as the classifier refuses an input it cannot take)."""

    backend = "fake"
    labels = LABELS
    max_length = 128
    path = Path("fake-model")
    multi_label = False
    activate = Classifier.activate  # the real activations: softmax, sigmoid, none

    def __init__(self):
        self.calls: list[list[str]] = []

    def scores(self, texts, batch_size=32, long_text="truncate"):
        self.calls.append(list(texts))
        if any("refuse" in t for t in texts):
            raise DataError("texts", None, "this text cannot be classified")
        if any("poison" in t for t in texts):
            raise RuntimeError("the model broke on this batch\n(a second line that must not reach the log)")
        logits = np.where(np.array(LABELS) == "joy", 10.0, 0.0).astype(np.float32)
        return np.tile(logits, (len(texts), 1)), np.zeros(len(texts), dtype=bool)


@pytest.fixture
def fake_classifier():
    return FakeClassifier()


@pytest.fixture
def spawn(tiny_run):
    """spawn(*options) -> base URL of `emodraw serve` on the tiny run's best checkpoint; the test gets the
    server's whole output afterwards from `spawn.output()` (the server is stopped first)."""
    from emodraw.serve import spawn_server

    procs = []

    def start(*options):
        proc, url = spawn_server(tiny_run.checkpoints["best"], *options, timeout_s=30)
        procs.append(proc)
        return url

    def output() -> str:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
        return "".join(proc.output() for proc in procs)

    start.output = output
    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
