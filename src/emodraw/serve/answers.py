"""From the model's scores to a /predict answer, in the shape the request came in (emodraw.serve.schemas):
a row for "text", {"results": rows} for "texts", and for "inputs" one list of {label, score} per input,
highest first, inside an outer list -- what the Hugging Face Inference API's text-classification task
answers and its client parses.

With `explain`, each text is scored together with its occlusion variants (emodraw.inference.explain:
the text without each word in turn), all in the same model call; the weights are differences of the
same scores the answer shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emodraw.inference.explain import attribution, occlusion_texts
from emodraw.serve.validation import PredictBody


def model_inputs(body: PredictBody) -> tuple[list[str], list[tuple[int, int, list]]]:
    """The texts to score for `body` and, per requested text, (first row, number of rows, its words): one row
    per text, or with explain the text and each of its occlusion variants."""
    texts: list[str] = []
    spans = []
    for text in body.texts:
        words, variants = occlusion_texts(text) if body.explain else ([], [text])
        spans.append((len(texts), len(variants), words))
        texts.extend(variants)
    return texts, spans


def answer(body: PredictBody, classifier, scored: list[tuple[np.ndarray, bool]], spans) -> Any:
    """The JSON answer to `body`, from `scored` (logits, truncated) per row of model_inputs()."""
    labels = classifier.labels
    rows = []
    for first, count, words in spans:
        logits = np.stack([scored[i][0] for i in range(first, first + count)])
        probs = classifier.activate(logits, body.function)
        ranked = sorted(zip(labels, (float(p) for p in probs[0])), key=lambda pair: -pair[1])[: body.top_k]
        explanation = attribution(words, probs, labels)["explanation"] if body.explain else None
        if body.shape in ("input", "inputs"):
            listed = [{"label": name, "score": score} for name, score in ranked]
            rows.append({"scores": listed, "explanation": explanation} if body.explain else listed)
            continue
        row = {"label": ranked[0][0], "scores": dict(ranked), "truncated": bool(scored[first][1])}
        if classifier.multi_label:  # decided on the model's own sigmoid, whatever function_to_apply shows
            row["labels"] = classifier.decide(classifier.activate(logits[:1]))[0]
        if body.explain:
            row["explanation"] = explanation
        rows.append(row)
    if body.shape in ("input", "inputs"):
        return rows
    return rows[0] if body.shape == "text" else {"results": rows}
