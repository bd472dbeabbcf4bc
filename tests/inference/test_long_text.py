"""Long texts scored as overlapping windows (emodraw.inference.long_text): the windows' geometry, combining them,
the bound on windows, and the point of it all -- an emotion late in a long text is found by "chunk" and missed by
"truncate", with the same answer from the PyTorch checkpoint and its ONNX export."""

from __future__ import annotations

import random

import numpy as np
import pytest
from helpers.keyword_data import FILLER

from emodraw import Classifier
from emodraw.checkpoints import load_tokenizer
from emodraw.errors import DataError
from emodraw.inference import long_text
from emodraw.inference.long_text import combine, windows
from emodraw.modeling.batching import encode


@pytest.fixture(scope="module", params=["albert", "bert"])
def tokenizer(request):
    return load_tokenizer(request.getfixturevalue(f"tiny_{request.param}"))


def filler(n: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(FILLER) for _ in range(n))


def content_of(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]


def rows(encoded) -> list[list[int]]:
    return [encoded.ids[r, : encoded.lengths[r]].tolist() for r in range(len(encoded))]


def test_long_text_windows_overlap_cover_every_token_and_keep_the_special_tokens(tokenizer):
    text, max_length, stride = filler(200), 32, 7
    full = tokenizer(text, verbose=False)["input_ids"]
    cls, sep, content = full[0], full[-1], full[1:-1]
    encoded, owner = windows(tokenizer, [text], max_length, stride=stride)
    window = max_length - 2
    assert len(content) > 3 * window and (owner == 0).all() and not encoded.truncated.any()
    assert (encoded.lengths == max_length).all()  # the last window too: it is moved to end at the text's end
    found, starts = rows(encoded), []
    for ids in found:
        assert ids[0] == cls and ids[-1] == sep and cls not in ids[1:-1] and sep not in ids[1:-1]
    position = 0
    for ids in found:  # each window is the content at some position, each after the one before
        position = next(s for s in range(position, len(content)) if content[s : s + window] == ids[1:-1])
        starts.append(position)
    assert starts[0] == 0 and starts[-1] + window == len(content)
    gaps = np.diff(starts)
    assert (gaps[:-1] == window - stride).all() and 0 < gaps[-1] <= window - stride  # overlap >= stride everywhere
    covered = np.zeros(len(content), dtype=bool)
    for s in starts:
        covered[s : s + window] = True
    assert covered.all()


def test_windows_are_the_tokenizers_overflow_windows_but_the_last_is_full_length(tokenizer):
    """Why windows() cuts the tokens itself: the tokenizer's overflow gives the same windows, but leaves the last
    one as a short remainder."""
    texts, max_length = [filler(150, seed=1), filler(80, seed=2)], 32
    encoded, owner = windows(tokenizer, texts, max_length)
    window = max_length - 2
    overflow = tokenizer(
        texts, truncation=True, max_length=max_length, stride=window // 4, return_overflowing_tokens=True
    )
    assert owner.tolist() == list(overflow["overflow_to_sample_mapping"])
    last = {int(np.flatnonzero(owner == i)[-1]) for i in range(len(texts))}
    for r, (mine, theirs) in enumerate(zip(rows(encoded), overflow["input_ids"])):
        assert (mine[-len(theirs) + 1 :] == theirs[1:]) if r in last else mine == theirs
    assert any(len(overflow["input_ids"][r]) < max_length for r in last)
    assert all(len(rows(encoded)[r]) == max_length for r in last)


def test_a_text_that_fits_is_one_window_equal_to_encode(tokenizer):
    texts = ["", "i am terrified", filler(10), filler(400)]
    max_length = 128
    encoded, owner = windows(tokenizer, texts, max_length)
    reference = encode(tokenizer, texts, max_length=max_length)
    fits = [i for i, cut in enumerate(reference.truncated) if not cut]
    assert fits == [0, 1, 2] and reference.truncated[3]
    assert [int((owner == i).sum()) for i in fits] == [1, 1, 1] and (owner == 3).sum() > 1
    found = rows(encoded)
    for i in fits:
        assert found[int(np.flatnonzero(owner == i)[0])] == reference.ids[i, : reference.lengths[i]].tolist()
    assert encoded.pad_id == reference.pad_id and encoded.labels is None


def test_windows_frame_a_roberta_style_tokenizer_with_its_own_special_tokens():
    """<s> x </s> (RoBERTa, MPNet) as well as [CLS] x [SEP]: the frame is read off the tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    specials = ["<s>", "<pad>", "</s>", "<unk>"]
    backend.train_from_iterator([" ".join(FILLER)] * 20, trainers.BpeTrainer(vocab_size=300, special_tokens=specials))
    backend.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    texts = ["i am the report", filler(80)]
    encoded, owner = windows(tokenizer, texts, 32)
    reference = encode(tokenizer, texts, max_length=32)
    found = rows(encoded)
    assert owner.tolist()[:2] == [0, 1] and (owner == 1).sum() > 2
    assert found[0] == reference.ids[0, : reference.lengths[0]].tolist()
    assert all(ids[0] == 0 and ids[-1] == 2 and len(ids) == 32 for ids in found[1:])
    assert encoded.pad_id == 1


def test_windows_are_bounded_per_text(tokenizer, monkeypatch):
    monkeypatch.setattr(long_text, "MAX_WINDOWS", 4)
    max_length, stride = 32, 7
    window = max_length - 2
    bound = window + 3 * (window - stride)  # what 4 windows cover
    words = filler(150).split()
    fits = next(
        " ".join(words[:n]) for n in range(150, 0, -1) if len(content_of(tokenizer, " ".join(words[:n]))) <= bound
    )
    encoded, owner = windows(tokenizer, ["short", fits], max_length, stride=stride)
    assert (owner == 1).sum() == 4
    too_long = " ".join(words)
    assert len(content_of(tokenizer, too_long)) > bound and len(too_long) < bound * long_text.MAX_CHARS_PER_TOKEN
    with pytest.raises(
        DataError, match=r"^texts\[1\]: \d+ tokens; long-text chunk takes at most 99 \(4 windows of 30 tokens\)"
    ) as refused:
        windows(tokenizer, ["short", too_long], max_length, stride=stride)
    assert "\n" not in str(refused.value)


def test_a_huge_text_is_refused_before_it_is_tokenised(tokenizer):
    seen = []

    def spy(texts, **kwargs):
        seen.append(max(len(t) for t in ([texts] if isinstance(texts, str) else texts)))
        return tokenizer(texts, **kwargs)

    spy.pad_token_id = tokenizer.pad_token_id
    huge = "a" * 3_000_000  # one "word": few tokens, so only the character bound can stop it early
    most = long_text.max_tokens(126, 31) * long_text.MAX_CHARS_PER_TOKEN
    assert len(huge) > most
    with pytest.raises(
        DataError, match=rf"^texts\[0\]: 3,000,000 characters; long-text chunk takes at most {most:,} "
    ):
        windows(spy, [huge], 128)
    assert max(seen) < 100  # only the probe of the special tokens was tokenised


def test_combine_mean_max_and_confidence_on_hand_made_windows():
    probs = np.array(
        [
            [0.25, 0.25, 0.25, 0.25],  # text 0: a window that cannot tell ...
            [0.25, 0.25, 0.25, 0.25],
            [0.05, 0.85, 0.05, 0.05],  # ... and one sure of label 1
            [0.70, 0.10, 0.10, 0.10],  # text 1: one window only
        ]
    )
    owner = np.array([0, 0, 0, 1])
    mean = combine(probs, owner, 2, "mean")
    np.testing.assert_allclose(mean[0], probs[:3].mean(axis=0))
    np.testing.assert_allclose(mean[1], probs[3])
    top = combine(probs, owner, 2, "max")
    np.testing.assert_allclose(top[0], np.array([0.25, 0.85, 0.25, 0.25]) / 1.6)  # renormalised
    np.testing.assert_allclose(top.sum(axis=1), 1.0)
    sure = combine(probs, owner, 2, "confidence", power=2.0)
    np.testing.assert_allclose(sure[1], probs[3])
    np.testing.assert_allclose(sure.sum(axis=1), 1.0)
    assert sure[0, 1] > 0.8 > mean[0, 1]  # the uniform windows weigh (almost) nothing
    np.testing.assert_allclose(combine(probs, owner, 2, "confidence", power=0.0), mean)
    # windows arrive in any order
    order = np.array([3, 2, 0, 1])
    np.testing.assert_allclose(
        combine(probs[order], owner[order], 2, "confidence"), combine(probs, owner, 2, "confidence")
    )


def test_evidence_ignores_confident_windows_that_say_what_an_empty_text_says():
    """The default: a model without a neutral class answers neutral text as it answers an empty one, often
    confidently; such windows are no evidence, and one window that says something else decides."""
    empty = np.array([0.01, 0.96, 0.01, 0.01, 0.01])
    probs = np.array([[0.01, 0.95, 0.02, 0.01, 0.01]] * 4 + [[0.01, 0.05, 0.02, 0.91, 0.01]])
    owner = np.zeros(5, dtype=np.int64)
    assert combine(probs, owner, 1, "confidence").argmax() == 1  # drowned by the confident neutral windows
    assert combine(probs, owner, 1, "max").argmax() == 1
    found = combine(probs, owner, 1, "evidence", reference=empty)
    assert found.argmax() == 3 and found[0, 3] > 0.8 and np.isclose(found.sum(), 1.0)
    assert long_text.DEFAULT_METHOD == "evidence"
    alone = combine(probs[:1], owner[:1], 1, "evidence", reference=probs[0])  # no window departs: a plain mean
    np.testing.assert_allclose(alone, probs[:1])
    with pytest.raises(ValueError, match="needs the reference"):
        combine(probs, owner, 1, "evidence")


def test_combine_multi_label_max_is_not_renormalised():
    probs = np.array([[0.9, 0.1, 0.2], [0.3, 0.8, 0.1]])
    np.testing.assert_allclose(combine(probs, np.array([0, 0]), 1, "max", multi_label=True), [[0.9, 0.8, 0.2]])
    unsure_then_sure = np.array([[0.5, 0.5, 0.5], [0.99, 0.01, 0.01]])
    uncertain = combine(unsure_then_sure, np.array([0, 0]), 1, "confidence", multi_label=True)
    assert uncertain[0, 0] > 0.95


def test_combine_refuses_a_text_without_windows_and_unknown_methods():
    with pytest.raises(ValueError, match="at least one window"):
        combine(np.ones((2, 3)) / 3, np.array([0, 0]), 2)
    with pytest.raises(ValueError, match="unknown method 'median'"):
        combine(np.ones((1, 3)) / 3, np.array([0]), 1, "median")


def late_keyword_text() -> str:
    """~60 neutral words, then the only emotion words: past the first window (46 tokens at max length 48)."""
    return filler(60, seed=3) + " and i am terrified , scared and afraid"


def test_chunk_finds_an_emotion_after_the_first_window_and_truncate_misses_it(long_text_run):
    clf = Classifier.load(long_text_run, device="cpu", precision="fp32")
    text = late_keyword_text()
    assert "terrified" not in clf.tokenizer.decode(clf.encode([text]).ids[0])  # cut away by truncation
    cut = clf.details([text], long_text="truncate")[0]
    whole = clf.details([text], long_text="chunk")[0]
    assert cut["truncated"] and cut["label"] != "fear"
    assert not whole["truncated"] and whole["label"] == "fear"
    assert clf.details(["i am terrified"], long_text="truncate")[0]["label"] == "fear"


def test_a_short_text_scores_the_same_with_chunk_and_truncate(long_text_run):
    clf = Classifier.load(long_text_run, device="cpu", precision="fp32")
    texts = ["i am terrified", "we were so happy with the train", filler(12, seed=4)]
    np.testing.assert_allclose(
        clf.probabilities(texts, long_text="chunk"), clf.probabilities(texts, long_text="truncate"), atol=1e-6
    )


def test_the_onnx_export_gives_the_same_chunk_answer(long_text_run, tmp_path):
    from emodraw.export import export

    export(long_text_run, tmp_path / "onnx", log=lambda m: None)
    onnx = Classifier.load(tmp_path / "onnx")
    torch_clf = Classifier.load(long_text_run, device="cpu", precision="fp32")
    assert onnx.backend == "onnx"
    texts = [late_keyword_text(), filler(90, seed=5) + " i was so happy and delighted " + filler(40, seed=6)]
    onnx_rows, torch_rows = onnx.details(texts, long_text="chunk"), torch_clf.details(texts, long_text="chunk")
    assert [r["label"] for r in onnx_rows] == [r["label"] for r in torch_rows] and torch_rows[0]["label"] == "fear"
    for a, b in zip(onnx_rows, torch_rows):
        assert max(abs(a["scores"][k] - b["scores"][k]) for k in a["scores"]) < 1e-4
