"""Fine-tuning: `train(config)` runs one training run (trainer.py: the epoch loop and its collaborators).

Exported lazily, so `import emodraw.training.<module>` loads only that module's imports.
"""

__all__ = ["RunResult", "Trainer", "choose_run_dir", "train"]


def __getattr__(name):
    if name in __all__:
        from emodraw.training import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module 'emodraw.training' has no attribute {name!r}")
