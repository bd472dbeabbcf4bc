"""The PyTorch server's model calls come in a bounded set of shapes, with the same scores."""

import random

import pytest

TEXTS = [
    "i feel wonderful today",
    "i am so scared",
    "no",
    "i feel happy " * 200,  # cut at the maximum length
    "i didnt feel humiliated but i can go from feeling so hopeless to so damned hopeful just from being around",
    "im grabbing a minute to post i feel greedy wrong",
] * 4 + ["i feel a little bit mellow today"]  # 25 texts: chunks of 16, 8 and 1


def test_chunks_are_powers_of_two_and_widths_multiples_of_the_step():
    from emodraw.serve.shapes import chunk_sizes, padded_width

    assert chunk_sizes(23, 32) == [16, 4, 2, 1] and chunk_sizes(70, 32) == [32, 32, 4, 2]
    assert chunk_sizes(5, 24) == [4, 1] and chunk_sizes(1, 1) == [1] and chunk_sizes(0, 32) == []
    assert [padded_width(n, 128) for n in (1, 16, 17, 100, 120, 128)] == [16, 16, 32, 112, 128, 128]
    assert padded_width(7, 8) == 8  # a max_length under one step


@pytest.fixture(scope="module")
def classifier(tiny_run):
    from emodraw import Classifier

    return Classifier.load(tiny_run.checkpoints["best"], precision="fp32")


@pytest.mark.parametrize("long_text", ["truncate", "chunk"])
def test_the_servers_scores_are_the_classifiers_up_to_float_noise(classifier, long_text):
    from emodraw.serve.shapes import scorer

    logits, truncated = classifier.scores(TEXTS, batch_size=32, long_text=long_text)
    got = scorer(classifier, 32, long_text)(TEXTS)
    assert [bool(cut) for _, cut in got] == truncated.tolist() and got[3][1] == (long_text == "truncate")
    for (row, _), want in zip(got, logits):
        assert row == pytest.approx(want, abs=1e-4)


def test_the_server_only_ever_gives_the_model_bounded_shapes(classifier):
    from emodraw.serve.batching import Batcher

    shapes = set()
    hook = classifier.model.register_forward_pre_hook(
        lambda module, args, kwargs: shapes.add(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    rng = random.Random(0)
    words = " ".join(TEXTS[:6]).split()
    run = Batcher(classifier, window_s=0, max_batch=64, model_batch_size=32).run
    try:
        for _ in range(60):
            run([" ".join(rng.choices(words, k=rng.randint(1, 150))) for _ in range(rng.randint(1, 40))])
    finally:
        hook.remove()
    assert all(b in (1, 2, 4, 8, 16, 32) and (w % 16 == 0 or w == classifier.max_length) for b, w in shapes), shapes
    assert len(shapes) <= 6 * 8
