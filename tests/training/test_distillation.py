import pytest
import torch
from helpers.runs import teacher_copy
from helpers.tiny_data import TINY_OPTIONS

from emodraw import Classifier, train
from emodraw.data.splits import read_examples
from emodraw.errors import ConfigError
from emodraw.training.distillation import distillation_loss, teacher_targets


@pytest.fixture(scope="module")
def tiny_run(teacher_run):
    """Teachers here are a copy of the shared run (conftest.teacher_run): their caches stay out of it."""
    return teacher_run


def test_distillation_loss_is_zero_when_the_student_matches_and_grows_with_the_gap():
    targets = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    temperature = 2.0
    matching = temperature * targets.log()  # softmax(matching / T) == targets
    assert distillation_loss(matching, targets, temperature) == pytest.approx([0.0, 0.0], abs=1e-6)
    wrong = torch.tensor([[0.0, 0.0, 5.0], [5.0, 0.0, 0.0]])
    loss = distillation_loss(wrong, targets, temperature)
    by_hand = temperature**2 * (targets * (targets.log() - torch.log_softmax(wrong / temperature, -1))).sum(-1)
    assert torch.allclose(loss, by_hand) and (loss > 0.1).all()


def test_teacher_targets_are_the_teachers_mean_distribution_in_the_students_label_order(tiny_run, small_data):
    texts = read_examples(small_data / "train.txt").texts[:40]
    teacher = Classifier.load(tiny_run.run_dir, device="cpu", precision="fp32")
    expected = torch.softmax(torch.from_numpy(teacher.logits(texts)) / 3.0, dim=-1)
    reordered = list(reversed(teacher.labels))
    # the same teacher twice: the mean is the teacher itself
    targets = teacher_targets(
        f"{tiny_run.run_dir},{tiny_run.run_dir}",
        texts,
        reordered,
        temperature=3.0,
        device=torch.device("cpu"),
        precision="fp32",
        batch_size=16,
        log=lambda _m: None,
    )
    assert targets.shape == (40, len(reordered))
    assert torch.allclose(targets, expected.flip(-1), atol=1e-5)
    assert torch.allclose(targets.sum(-1), torch.ones(40), atol=1e-5)


def test_teachers_that_predict_other_labels_or_do_not_exist_are_refused(tiny_run, tmp_path):
    with pytest.raises(ConfigError, match="predicts"):
        teacher_targets(
            str(tiny_run.run_dir),
            ["a sentence"],
            ["happy", "sad"],
            temperature=1.0,
            device=torch.device("cpu"),
            precision="fp32",
            batch_size=8,
        )
    with pytest.raises(ConfigError, match="no such run"):
        teacher_targets(
            str(tmp_path / "missing"),
            ["a sentence"],
            ["joy"],
            temperature=1.0,
            device=torch.device("cpu"),
            precision="fp32",
            batch_size=8,
        )
    with pytest.raises(ConfigError, match="distill-alpha"):
        train(distill_from=str(tiny_run.run_dir), distill_alpha=1.5)


def _gap_to_teacher(student_dir, teacher_dir, texts):
    """Mean KL(teacher || student) over `texts`, at temperature 1."""
    teacher, student = (Classifier.load(p, device="cpu", precision="fp32") for p in (teacher_dir, student_dir))
    p = torch.softmax(torch.from_numpy(teacher.logits(texts)), -1)
    log_q = torch.log_softmax(torch.from_numpy(student.logits(texts)), -1)
    return float((p * (p.log() - log_q)).sum(-1).mean())


def test_distilled_student_moves_towards_its_teacher_and_alpha_zero_is_plain_training(
    tmp_path, tiny_run, tiny_albert, small_data
):
    options = {**TINY_OPTIONS, "plots": False, "save_state": False, "seed": 3}
    runs = {
        name: train(
            model=str(tiny_albert),
            data_dir=str(small_data),
            output_dir=str(tmp_path / name),
            progress=False,
            **options,
            **extra,
        )
        for name, extra in (
            ("plain", {}),
            ("alpha0", {"distill_from": str(tiny_run.run_dir), "distill_alpha": 0.0}),
            ("alpha1", {"distill_from": str(tiny_run.run_dir), "distill_alpha": 1.0, "distill_temperature": 1.0}),
        )
    }
    losses = {name: [row["train_loss"] for row in run.history] for name, run in runs.items()}
    assert losses["alpha0"] == pytest.approx(losses["plain"], rel=1e-6)  # the teachers' term weighs nothing
    assert losses["alpha1"] != pytest.approx(losses["plain"], rel=1e-3)
    # learning only the teacher's distribution brings the student closer to it than learning the labels
    texts = read_examples(small_data / "train.txt").texts
    gaps = {
        name: _gap_to_teacher(runs[name].checkpoints["last"], tiny_run.run_dir, texts) for name in ("plain", "alpha1")
    }
    assert gaps["alpha1"] < 0.8 * gaps["plain"], gaps


def test_cross_fitted_targets_come_only_from_teachers_that_did_not_train_on_the_sentence(
    tmp_path, tiny_run, tiny_albert, small_data
):
    from emodraw.data.splits import bundled_data_dir

    # a second teacher trained on the next 300 training sentences (the first, tiny_run, on the first 300)
    lines = (bundled_data_dir() / "train.txt").read_text(encoding="utf-8").splitlines()
    other_data = tmp_path / "other"
    other_data.mkdir()
    (other_data / "train.txt").write_text("\n".join(lines[300:600]) + "\n", encoding="utf-8")
    for split in ("val", "test"):
        (other_data / f"{split}.txt").write_bytes((small_data / f"{split}.txt").read_bytes())
    other = train(
        model=str(tiny_albert),
        data_dir=str(other_data),
        output_dir=str(tmp_path / "other-run"),
        progress=False,
        **{**TINY_OPTIONS, "plots": False, "save_state": False},
    )
    texts = [line.rsplit(";", 1)[0] for line in lines[:20] + lines[300:320]]  # 20 from each teacher's data
    labels = Classifier.load(tiny_run.run_dir, device="cpu").labels
    common = dict(temperature=2.0, device=torch.device("cpu"), precision="fp32", batch_size=16, log=lambda _m: None)
    first, second = (teacher_targets(str(run), texts, labels, **common) for run in (tiny_run.run_dir, other.run_dir))
    assert not torch.allclose(first, second, atol=1e-3)  # the two teachers differ, or this test proves nothing
    both = f"{tiny_run.run_dir},{other.run_dir}"
    crossed = teacher_targets(both, texts, labels, cross_fit=True, **common)
    assert torch.allclose(crossed[:20], second[:20], atol=1e-5)  # the first teacher trained on these
    assert torch.allclose(crossed[20:], first[20:], atol=1e-5)
    assert torch.allclose(teacher_targets(both, texts, labels, **common), (first + second) / 2, atol=1e-5)


def test_a_teacher_trained_with_train_on_val_counts_its_validation_sentences_as_seen(
    tmp_path, tiny_run, tiny_albert, small_data
):
    from emodraw.training.distillation import trained_on

    val_texts = read_examples(small_data / "val.txt").texts
    train_texts = read_examples(small_data / "train.txt").texts
    assert trained_on(Classifier.load(tiny_run.run_dir, device="cpu")) == set(train_texts)
    joined = train(
        model=str(tiny_albert),
        data_dir=str(small_data),
        output_dir=str(tmp_path / "joined"),
        progress=False,
        train_on_val=True,
        **{**TINY_OPTIONS, "epochs": 1, "plots": False, "save_state": False},
    )
    assert trained_on(Classifier.load(joined.run_dir, device="cpu")) == set(train_texts) | set(val_texts)


@pytest.mark.slow
def test_two_processes_split_the_teachers_work_and_every_sentence_gets_its_own_targets(
    tmp_path, tiny_run, tiny_albert, small_data
):
    """Under DDP each process scores a share of the training sentences; after the gather, every process
    must hold each sentence's targets in the sentence's own row (what one process computes alone)."""
    import os
    import subprocess
    import sys
    import textwrap

    # a teacher of its own: one with cached scores would have nothing left to split
    teacher = teacher_copy(tiny_run.run_dir, tmp_path / "teacher")
    script = tmp_path / "targets.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys, torch
        from emodraw.config import TrainConfig
        from emodraw.training.distillation import teacher_targets
        from emodraw.training.trainer import trainer_class

        cfg = TrainConfig(model={str(tiny_albert)!r}, data_dir={str(small_data)!r},
                          distill_from={str(teacher)!r}, precision="fp32", plots=False,
                          output_dir={str(tmp_path / "run")!r})
        shares = []
        trainer = trainer_class(cfg)(cfg, progress=False, log=lambda m: shares.append(m))
        alone = teacher_targets(cfg.distill_from, trainer.splits.train.texts, trainer.splits.label_names,
                                temperature=cfg.distill_temperature, device=torch.device("cpu"), precision="fp32",
                                batch_size=64, log=lambda m: None)
        torch.testing.assert_close(trainer.sentence_inputs["soft_targets"].cpu(), alone)
        if trainer.main:
            scored = [m for m in shares if "scored" in m]
            open(sys.argv[1], "w").write(f"{{trainer.world}} {{len(alone)}} {{scored[0]}}")
    """)
    )
    out = tmp_path / "ok.txt"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            str(script),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    world, total, message = out.read_text().split(" ", 2)
    assert (world, total) == ("2", "300")
    assert "scored 150 training sentences" in message  # the main process scored its half, not all 300
