"""emodraw: fine-tune ALBERT and other BERT-family encoders to detect emotions in English text,
reproduce the published ALBERT experiments on CARER, and serve the trained classifier.

    from emodraw import Classifier, train, evaluate
    run = train()                                  # the offline default job
    clf = Classifier.load(run.best_checkpoint)
    clf.predict("i feel wonderful today")          # -> "joy"
"""

from emodraw.version import __version__

__all__ = [
    "Classifier",
    "TrainConfig",
    "train",
    "evaluate",
    "report",
    "adapt",
    "AdaptConfig",
    "average_checkpoints",
    "__version__",
]


def __getattr__(name):
    # Imported on first use: `import emodraw` (and `emodraw --help`) stays fast without torch.
    if name == "Classifier":
        from emodraw.inference.classifier import Classifier

        return Classifier
    if name == "TrainConfig":
        from emodraw.config import TrainConfig

        return TrainConfig
    if name == "train":
        from emodraw.training.trainer import train

        return train
    if name == "evaluate":
        from emodraw.inference.evaluation import evaluate

        return evaluate
    if name in ("adapt", "AdaptConfig"):
        from emodraw.training import adaptation

        return getattr(adaptation, name)
    if name == "average_checkpoints":
        from emodraw.average import average_checkpoints

        return average_checkpoints
    if name == "report":
        from emodraw.results import report

        return report
    raise AttributeError(f"module 'emodraw' has no attribute {name!r}")
