import numpy as np
import pytest
import torch
from helpers.runs import teacher_copy
from helpers.tiny_data import TINY_OPTIONS

from emodraw import train
from emodraw.data.splits import read_examples
from emodraw.errors import ConfigError
from emodraw.training.distillation import cache_path, teacher_targets
from emodraw.training.saved_model import SavedModel
from emodraw.training.soft_labels import SoftLabels

CPU = dict(device=torch.device("cpu"), precision="fp32", batch_size=16, log=lambda _m: None)


@pytest.fixture(scope="module")
def tiny_run(teacher_run):
    """Teachers here are a copy of the shared run (conftest.teacher_run): their caches stay out of it."""
    return teacher_run


def _stored(tmp_path):
    texts = ["i feel fine", "i am furious", "what a surprise", "i feel fine"]  # a repeated text keeps one row
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 0.5], [-1.0, 0.0, 4.0], [9.0, 9.0, 9.0]], np.float32)
    path = SoftLabels.from_scores(texts, logits, ["joy", "anger", "surprise"], {"teacher": "t"}).write(
        tmp_path / "soft.safetensors"
    )
    return path, logits


def test_soft_labels_read_back_by_sentence_and_by_label_name(tmp_path):
    path, logits = _stored(tmp_path)
    stored = SoftLabels.read(path)
    assert len(stored.keys) == 3 and stored.meta["teacher"] == "t"
    # any subset, any order, columns mapped by name
    rows = stored.lookup(["what a surprise", "i feel fine"], ["surprise", "joy", "anger"], source="f")
    np.testing.assert_allclose(rows, [[4.0, -1.0, 0.0], [-1.0, 2.0, 0.0]])
    with pytest.raises(ConfigError, match="1 of the 2 training sentences: it was made for other data"):
        stored.lookup(["i feel fine", "never scored"], ["joy", "anger", "surprise"], source="f")
    with pytest.raises(ConfigError, match="holds soft labels for"):
        stored.lookup(["i feel fine"], ["joy", "anger"], source="f")


def test_a_file_that_is_not_soft_labels_is_refused_in_one_line(tmp_path):
    from safetensors.numpy import save_file

    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 40)
    other = tmp_path / "weights.safetensors"
    save_file({"weight": np.zeros((2, 2), np.float32)}, str(other))
    for path, reason in ((junk, "not a soft-label file"), (other, "not a soft-label file of this emodraw")):
        with pytest.raises(ConfigError, match=reason) as error:
            SoftLabels.read(path)
        assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="no such soft-label file"):
        SoftLabels.read(tmp_path / "missing.safetensors")


def test_a_teachers_scores_are_cached_beside_its_run_and_reused(tmp_path, tiny_run, small_data, monkeypatch):
    teacher = teacher_copy(tiny_run.run_dir, tmp_path / "teacher")
    texts = read_examples(small_data / "train.txt").texts[:60]
    labels = SavedModel.load(teacher, device=torch.device("cpu"), precision="fp32").labels
    first = teacher_targets(str(teacher), texts[:40], labels, temperature=2.0, **CPU)
    cached = teacher / "soft_labels"
    assert [p.name for p in cached.iterdir()] == [cache_path(SavedModel.load(teacher, **CPU_LOAD)).name]
    scored = []
    real = SavedModel.logits
    monkeypatch.setattr(
        SavedModel, "logits", lambda self, t, batch_size: scored.append(len(t)) or real(self, t, batch_size)
    )
    again = teacher_targets(str(teacher), texts[:40], labels, temperature=2.0, **CPU)
    assert scored == [] and torch.allclose(first, again)  # read, not scored again
    wider = teacher_targets(str(teacher), texts, labels, temperature=2.0, **CPU)
    assert scored == [20] and torch.allclose(wider[:40], first)  # only the 20 new sentences were scored
    # the cache is soft labels itself: a student can learn from the file with no teacher at hand
    from_file = teacher_targets(str(next(cached.iterdir())), texts, labels, temperature=2.0, **CPU)
    assert torch.allclose(from_file, wider) and scored == [20]


def test_a_cache_made_by_other_weights_is_scored_again(tmp_path, tiny_run, small_data, monkeypatch):
    teacher = teacher_copy(tiny_run.run_dir, tmp_path / "teacher")
    texts = read_examples(small_data / "train.txt").texts[:30]
    loaded = SavedModel.load(teacher, **CPU_LOAD)
    path = cache_path(loaded)
    # a cache of the right sentences but written for other weights: must not be believed
    SoftLabels.from_scores(
        texts, np.zeros((30, len(loaded.labels))), loaded.labels, {"teacher_sha256": "0" * 64}
    ).write(path)
    targets = teacher_targets(str(teacher), texts, loaded.labels, temperature=1.0, **CPU)
    expected = torch.softmax(torch.from_numpy(loaded.logits(texts, batch_size=16)), -1)
    assert torch.allclose(targets, expected, atol=1e-5)
    assert SoftLabels.read(path).meta["teacher_sha256"] != "0" * 64


def test_a_student_trains_from_a_soft_label_file_and_cross_fit_needs_checkpoints(
    tmp_path, tiny_run, tiny_albert, small_data
):
    texts = read_examples(small_data / "train.txt").texts
    loaded = SavedModel.load(tiny_run.run_dir, **CPU_LOAD)
    soft = SoftLabels.from_scores(texts, loaded.logits(texts, batch_size=64), loaded.labels).write(
        tmp_path / "teacher.safetensors"
    )
    options = {**TINY_OPTIONS, "epochs": 1, "plots": False, "save_state": False}
    run = train(
        model=str(tiny_albert),
        data_dir=str(small_data),
        output_dir=str(tmp_path / "student"),
        progress=False,
        distill_from=str(soft),
        **options,
    )
    assert run.history and (run.run_dir / "results.json").is_file()
    with pytest.raises(ConfigError, match="needs the teachers' checkpoints"):
        teacher_targets(str(soft), texts, loaded.labels, temperature=1.0, cross_fit=True, **CPU)


CPU_LOAD = dict(device=torch.device("cpu"), precision="fp32")


def test_the_shipped_soft_labels_cover_the_bundled_training_data_and_name_their_teacher():
    import json

    from emodraw.data.splits import bundled_data_dir
    from emodraw.files import file_sha256
    from emodraw.training.soft_labels import bundled_path

    train_file = bundled_data_dir() / "train.txt"
    examples = read_examples(train_file)
    shipped = SoftLabels.read(bundled_path())
    assert sorted(shipped.labels) == sorted(set(examples.labels))
    assert not shipped.missing(examples.texts).any()  # every bundled training sentence has its row
    assert file_sha256(train_file) in shipped.meta["data"]  # made for this very file
    assert shipped.meta["teacher"] == "sentence-transformers/all-mpnet-base-v2"
    assert len(shipped.meta["teacher_sha256"]) == 64 and json.loads(shipped.meta["recipe"])["epochs"] >= 1
    # the teacher knows the data: its argmax is the label for most sentences, not for all (it is soft)
    rows = shipped.lookup(examples.texts, shipped.labels, source="bundled")
    agree = np.mean([shipped.labels[i] == label for i, label in zip(rows.argmax(-1), examples.labels)])
    assert 0.9 < agree < 1.0
    targets = teacher_targets("bundled", examples.texts[:50], shipped.labels, temperature=2.0, **CPU)
    assert torch.allclose(targets.sum(-1), torch.ones(50), atol=1e-5)
    with pytest.raises(ConfigError, match="0 of the 1 training sentences: it was made for other data"):
        teacher_targets("bundled", ["a sentence of someone else's data"], shipped.labels, temperature=2.0, **CPU)
