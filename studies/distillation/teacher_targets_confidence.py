"""How much the teachers' distribution says beyond the labels, on the training and validation sentences.

    python studies/distillation/teacher_targets_confidence.py RUN1,RUN2,RUN3

For each split and temperature (1 and 2): the mean largest probability of the teachers' averaged
distribution (what `--distill-from` trains towards), the mean probability it gives the true label, and
how often its argmax is the label. Teachers that trained on the training sentences agree with those
labels far more often than with validation's: there the soft term mostly restates the labels.
"""

import sys

import torch

from emodraw.data.splits import EMOTIONS, bundled_data_dir, read_examples
from emodraw.training.distillation import teacher_targets


def main(teachers: str) -> None:
    for split in ("train", "val"):
        examples = read_examples(bundled_data_dir() / f"{split}.txt")
        truth = torch.tensor([EMOTIONS.index(label) for label in examples.labels])
        for temperature in (1.0, 2.0):
            targets = teacher_targets(
                teachers,
                examples.texts,
                list(EMOTIONS),
                temperature=temperature,
                device=torch.device("cpu"),
                precision="auto",
                batch_size=128,
                log=lambda _message: None,
            )
            print(
                f"{split} T={temperature}: mean max prob {targets.max(-1).values.mean():.3f}, "
                f"mean prob of the true label {targets[torch.arange(len(truth)), truth].mean():.3f}, "
                f"argmax = label {100 * (targets.argmax(-1) == truth).float().mean():.2f} %",
                flush=True,
            )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
