"""Word-level explanations by occlusion (emodraw.inference.explain): the words and their offsets, the variants
scored, the weights, and a model that has learned emotion keywords weighing its keyword most, in PyTorch and
in its ONNX exports."""

import numpy as np
import pytest

from emodraw.errors import DataError
from emodraw.inference.explain import (
    MAX_EXPLAIN_WORDS,
    attribution,
    explain,
    occlusion_texts,
    words_of,
)

LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
SENTENCE = "i am furious about the delay"


def test_words_carry_their_offsets_in_the_text():
    text = "  i am\tfurious!\n about  it "
    words = words_of(text)
    assert [w for w, _, _ in words] == ["i", "am", "furious!", "about", "it"]
    assert all(text[start:end] == word for word, start, end in words)
    assert words[0][1:] == (2, 3) and words[-1][1:] == (len(text) - 3, len(text) - 1)
    assert words_of("") == [] and words_of(" \t\n") == []


def test_each_variant_leaves_out_one_word_and_one_whitespace_run():
    words, texts = occlusion_texts("i am furious")
    assert [w for w, _, _ in words] == ["i", "am", "furious"]
    assert texts == ["i am furious", "am furious", "i furious", "i am"]
    # Other whitespace is kept as it stands; only the run beside the word goes with it.
    assert occlusion_texts("a  b\tc")[1] == ["a  b\tc", "b\tc", "a  c", "a  b"]
    assert occlusion_texts(" a b ")[1] == [" a b ", " b ", " a "]


@pytest.mark.parametrize("text", ["i am furious about the delay", "  so\n\nsad   today \t", "x", "one, two; three!"])
def test_no_variant_glues_or_doubles_anything(text):
    words, texts = occlusion_texts(text)
    assert texts[0] == text and len(texts) == 1 + len(words)
    for i, variant in enumerate(texts[1:]):
        assert [w for w, _, _ in words_of(variant)] == [w for j, (w, _, _) in enumerate(words) if j != i]
        if "  " not in text:
            assert "  " not in variant


def test_a_one_word_text_is_scored_against_no_words_at_all():
    assert occlusion_texts("furious") == ([("furious", 0, 7)], ["furious", ""])
    assert occlusion_texts(" furious ")[1] == [" furious ", "  "]
    assert occlusion_texts("") == ([], [""]) and occlusion_texts("   ")[1] == ["   "]


def test_too_many_words_is_a_one_line_data_error():
    occlusion_texts("w " * MAX_EXPLAIN_WORDS)  # the bound itself is fine
    with pytest.raises(DataError) as caught:
        occlusion_texts("w " * (MAX_EXPLAIN_WORDS + 1))
    message = str(caught.value)
    assert f"{MAX_EXPLAIN_WORDS + 1} words" in message and str(MAX_EXPLAIN_WORDS) in message
    assert "\n" not in message


def keyword_probabilities(calls):
    """A fake model: anger 0.9 when "furious" is in a text, else 0.3; the rest spread over the others;
    "late" adds 0.05 to sadness. Records each call, so the tests can count them."""

    def probabilities(texts):
        calls.append(list(texts))
        rows = []
        for text in texts:
            anger = 0.9 if "furious" in text.split() else 0.3
            row = np.full(len(LABELS), (1 - anger) / (len(LABELS) - 1))
            row[LABELS.index("anger")] = anger
            if "late" in text.split():
                row[LABELS.index("sadness")] += 0.05
                row[LABELS.index("joy")] -= 0.05
            rows.append(row)
        return np.array(rows, dtype=np.float32)

    return probabilities


def test_weights_are_the_scores_lost_without_each_word_in_one_call():
    calls = []
    result = explain(keyword_probabilities(calls), LABELS, "so furious it is late")
    assert len(calls) == 1 and calls[0] == occlusion_texts("so furious it is late")[1]  # one batched call
    assert result["label"] == "anger"
    rows = result["explanation"]
    assert [(r["word"], r["start"], r["end"]) for r in rows] == words_of("so furious it is late")
    assert [r["weight"] for r in rows] == [0.0, 0.6, 0.0, 0.0, 0.0]
    furious, late = rows[1]["weights"], rows[4]["weights"]
    assert list(furious) == LABELS and furious["anger"] == 0.6 and furious["sadness"] == pytest.approx(-0.12)
    assert late["sadness"] == 0.05 and late["joy"] == -0.05 and late["anger"] == 0.0
    assert all(isinstance(r["weight"], float) for r in rows)  # plain floats: JSON-ready


def test_weights_are_rounded_for_compact_json():
    probs = np.array([[0.7123456789, 0.2876543211], [0.1, 0.9]])
    row = attribution([("w", 0, 1)], probs, ["a", "b"])["explanation"][0]
    assert row["weight"] == 0.612346 and row["weights"] == {"a": 0.612346, "b": -0.612346}


def test_the_label_is_the_whole_texts_prediction_even_when_a_variant_disagrees():
    probs = np.array([[0.2, 0.8], [0.9, 0.1], [0.1, 0.9]])
    result = attribution([("x", 0, 1), ("y", 2, 3)], probs, ["a", "b"])
    assert result["label"] == "b" and [r["weight"] for r in result["explanation"]] == [0.7, -0.1]


def test_probabilities_of_the_wrong_shape_are_refused():
    with pytest.raises(ValueError, match="expected"):
        attribution([("x", 0, 1)], np.zeros((1, 2)), ["a", "b"])


def test_a_text_without_words_has_an_empty_explanation():
    calls = []
    result = explain(keyword_probabilities(calls), LABELS, "  ")
    assert result == {"label": "anger", "explanation": []} and calls == [["  "]]


def top_word(result) -> str:
    return max(result["explanation"], key=lambda r: r["weight"])["word"]


@pytest.fixture(scope="module")
def keyword_classifier(keyword_run):
    from emodraw.inference.classifier import Classifier

    return Classifier.load(keyword_run, device="cpu", precision="fp32")


def test_the_keyword_weighs_most_in_a_trained_model(keyword_classifier):
    result = keyword_classifier.explain(SENTENCE)
    assert result["label"] == "anger" and keyword_classifier.predict(SENTENCE) == "anger"
    assert top_word(result) == "furious"
    weights = {r["word"]: r["weight"] for r in result["explanation"]}
    assert weights["furious"] > 0.2  # without it the model no longer reads anger with confidence
    assert all(abs(w) < weights["furious"] / 2 for word, w in weights.items() if word != "furious")
    # The weights are what the model's own scores say: the whole text's minus the text without "furious".
    full, without = keyword_classifier.probabilities([SENTENCE, "i am about the delay"])
    assert weights["furious"] == pytest.approx(full[3] - without[3], abs=1e-5)
    several = keyword_classifier.explain([SENTENCE, "so happy today"])
    assert several[0] == result and top_word(several[1]) == "happy"


def test_a_one_word_text_is_explained_by_a_real_model(keyword_classifier):
    result = keyword_classifier.explain("furious")
    full, nothing = keyword_classifier.probabilities(["furious", ""])
    assert result["label"] == "anger" and len(result["explanation"]) == 1
    assert result["explanation"][0]["weight"] == pytest.approx(full[3] - nothing[3], abs=1e-5)


@pytest.fixture(scope="module")
def keyword_export(keyword_run, tmp_path_factory):
    from emodraw.export import export

    out = tmp_path_factory.mktemp("export") / "keyword-onnx"
    export(keyword_run, out, int8=True, log=lambda m: None)
    return out


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_an_onnx_export_explains_like_the_checkpoint(keyword_classifier, keyword_export, variant):
    from emodraw.inference.classifier import OnnxClassifier
    from emodraw.inference.onnx_runtime import FP32_FILE, INT8_FILE

    onnx = OnnxClassifier.load(keyword_export, variant=FP32_FILE if variant == "fp32" else INT8_FILE)
    assert onnx.backend == "onnx"
    result, reference = onnx.explain(SENTENCE), keyword_classifier.explain(SENTENCE)
    assert result["label"] == "anger" and top_word(result) == "furious" == top_word(reference)
    assert [r["word"] for r in result["explanation"]] == [r["word"] for r in reference["explanation"]]
    if variant == "fp32":  # the same computation: the same weights up to float rounding
        for got, want in zip(result["explanation"], reference["explanation"]):
            assert got["weight"] == pytest.approx(want["weight"], abs=1e-3)
    assert onnx.explain("furious")["explanation"][0]["word"] == "furious"  # the empty variant runs in ONNX too
