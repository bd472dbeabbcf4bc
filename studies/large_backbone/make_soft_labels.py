"""Write the soft labels the package ships (src/emodraw/resources/soft_labels/): a large-backbone run's
scores of the bundled training sentences, with what made them -- the teacher's base model, the sha256 of its
weights, its recipe, the data file's sha256 -- in the file's metadata.

    python studies/large_backbone/make_soft_labels.py runs/large-full/seed1

The scores come through the same code as `--distill-from RUN` (and land in the run's soft_labels/ cache too),
so a student distilled from the run and one distilled from `bundled` learn the same targets.
"""

from __future__ import annotations

import argparse
import time

import torch

from emodraw.data.splits import bundled_data_dir, read_examples
from emodraw.files import file_sha256
from emodraw.training.distillation import cache_path, teacher_logits
from emodraw.training.saved_model import SavedModel
from emodraw.training.soft_labels import SoftLabels, bundled_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("teacher", help="the teacher's run (its best checkpoint) or checkpoint folder")
    parser.add_argument("--precision", default="bf16", choices=("bf16", "fp32"))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", default=str(bundled_path()))
    args = parser.parse_args()

    train_file = bundled_data_dir() / "train.txt"
    texts = read_examples(train_file).texts
    teacher = SavedModel.load(args.teacher, device=torch.device("cpu"), precision=args.precision)
    started = time.perf_counter()
    logits = teacher_logits(teacher, texts, batch_size=args.batch_size, cache=True, log=print)
    seconds = time.perf_counter() - started
    cached = SoftLabels.read(cache_path(teacher))
    meta = {
        **{k: v for k, v in cached.meta.items() if k != "teacher"},  # the teacher's local path stays local
        "teacher": cached.meta["teacher_model"],
        "teacher_checkpoint": teacher.path.name,
        "scored_with": f"{args.precision}, on the CPU",
        "data": f"the bundled emotion train.txt, sha256 {file_sha256(train_file)}",
        "made_by": "studies/large_backbone/make_soft_labels.py",
    }
    out = SoftLabels.from_scores(texts, logits, teacher.labels, meta).write(args.output)
    agree = (logits.argmax(-1) == [teacher.labels.index(label) for label in read_examples(train_file).labels]).mean()
    print(
        f"{out}: {len(texts)} sentences scored or read in {seconds:.0f} s; "
        f"the teacher's argmax is the label for {agree:.2%}"
    )


if __name__ == "__main__":
    main()
