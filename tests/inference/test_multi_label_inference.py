"""A multi-label checkpoint after training: predict (a list of labels per text), evaluate at the stored
thresholds, the Python API, the ONNX export and its parity gate, the server's answers and the page."""

import json

import numpy as np
import pytest
from helpers.keyword_data import KEYWORDS

from emodraw.checkpoints import find_checkpoints
from emodraw.cli import main
from emodraw.inference.classifier import Classifier

NAMES = list(KEYWORDS)


def sentences(data, labels_per_text: int) -> list[tuple[str, set[str]]]:
    """The test split's sentences with that many emotions, and their labels."""
    out = []
    for row in (data / "test.tsv").read_text().splitlines():
        text, ids, _ = row.split("\t")
        labels = {NAMES[int(i)] for i in ids.split(",")}
        if len(labels) == labels_per_text:
            out.append((text, labels))
    return out


@pytest.fixture(scope="module")
def classifier(multi_label_run):
    return Classifier.load(multi_label_run, device="cpu")


def test_predict_returns_the_labels_over_their_thresholds(classifier, multi_label_data):
    two, one = sentences(multi_label_data, 2)[:30], sentences(multi_label_data, 1)[:30]
    predicted_two = classifier.predict([text for text, _ in two])
    predicted_one = classifier.predict([text for text, _ in one])
    assert all(isinstance(labels, list) for labels in predicted_two)
    # two emotions in a sentence are mostly both found; one is mostly alone
    assert np.mean([len(p) for p in predicted_two]) > 1.5 > np.mean([len(p) for p in predicted_one])
    assert np.mean([len(set(p) & gold) / 2 for p, (_, gold) in zip(predicted_two, two)]) > 0.7  # recall
    text = two[0][0]
    probs = classifier.predict_proba(text)
    over = {name for name, p in probs.items() if p >= classifier.meta["thresholds"][name]}
    assert set(classifier.predict(text)) == over and isinstance(classifier.predict(text), list)


def test_predict_json_prints_labels_and_scores(multi_label_run, capsys, multi_label_data):
    text, gold = sentences(multi_label_data, 2)[1]
    assert main(["predict", str(multi_label_run), "--json", text]) == 0
    row = json.loads(capsys.readouterr().out)
    assert set(row) == {"text", "labels", "scores"} and len(row["scores"]) == 6
    assert row["labels"] == sorted(row["labels"], key=lambda name: -row["scores"][name])


def test_predict_to_csv_joins_the_labels(multi_label_run, tmp_path, multi_label_data):
    out = tmp_path / "out.csv"
    assert (
        main(
            [
                "predict",
                str(multi_label_run),
                "--output",
                str(out),
                *[t for t, _ in sentences(multi_label_data, 2)[:4]],
            ]
        )
        == 0
    )
    header, *rows = out.read_text().splitlines()
    assert header.startswith("line,text,labels,truncated,sadness")
    assert any("," in row.split(",", 2)[2].split('"')[1] for row in rows if row.count('"') >= 2)


def test_evaluate_applies_the_checkpoints_thresholds(multi_label_run, capsys):
    assert main(["evaluate", str(multi_label_run), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    meta = json.loads((find_checkpoints(multi_label_run)["best"] / "emodraw.json").read_text())
    assert metrics["multi_label"] and metrics["thresholds"] == meta["thresholds"]
    recorded = json.loads((multi_label_run / "evaluation.json").read_text())["best"]
    assert metrics["f1_macro"] == pytest.approx(recorded["f1_macro"], abs=1e-6)  # the same test, the same score
    assert main(["evaluate", str(multi_label_run)]) == 0
    assert "micro F1" in capsys.readouterr().out


def test_onnx_export_keeps_the_labels_and_thresholds(multi_label_run, classifier, tmp_path, multi_label_data):
    from emodraw.export import FP32_FILE, INT8_FILE, MAX_INT8_DROP, export
    from emodraw.inference.classifier import OnnxClassifier

    # force: whether int8 passes its gate on a model this tiny depends on the CPU's arithmetic (0.75 pt below
    # PyTorch on one AVX2 machine); here the gate's verdict must follow its figures, and fp32 must match exactly
    report = export(multi_label_run, tmp_path / "onnx", int8=True, force=True, log=lambda m: None)
    fp32, int8 = report[FP32_FILE], report[INT8_FILE]
    assert fp32["metric"] == int8["metric"] == "macro F1" and fp32["agreement"] == 1.0
    assert report["parity_passed"] == (int8["score_torch"] - int8["score_onnx"] <= MAX_INT8_DROP)
    texts = [t for t, _ in sentences(multi_label_data, 2)[:12]]
    loaded = {variant: OnnxClassifier.load(tmp_path / "onnx", variant=variant) for variant in (FP32_FILE, INT8_FILE)}
    for onnx in loaded.values():
        assert onnx.backend == "onnx" and onnx.multi_label
        assert onnx.thresholds.tolist() == classifier.thresholds.tolist()
    assert loaded[FP32_FILE].predict(texts) == classifier.predict(texts)


def test_the_server_answers_every_detected_label(classifier, multi_label_data):
    from fastapi.testclient import TestClient

    from emodraw.serve import create_app

    text = sentences(multi_label_data, 2)[2][0]
    with TestClient(create_app(classifier)) as client:
        row = client.post("/predict", json={"text": text}).json()
        hub = client.post("/predict", json={"inputs": text}).json()
    assert row["labels"] == classifier.predict(text) and row["label"] == max(row["scores"], key=row["scores"].get)
    scores = [item["score"] for item in hub[0]]
    assert sum(scores) > 1.0  # sigmoid scores, not a softmax


@pytest.mark.browser
def test_the_page_lights_every_detected_label(multi_label_run, classifier, multi_label_data):
    from helpers.browser import chromium_page

    from emodraw.serve import spawn_server

    text = next(t for t, _ in sentences(multi_label_data, 2)[:30] if len(classifier.predict(t)) >= 2)
    proc, url = spawn_server(find_checkpoints(multi_label_run)["best"], timeout_s=30)
    try:
        with chromium_page() as page:
            page.goto(url + "/")
            page.wait_for_selector(".bar", state="attached")
            page.fill("#text", text)
            page.wait_for_function("() => document.body.dataset.ready && document.querySelector('#top-label')")
            page.wait_for_function(
                "n => document.querySelectorAll('.bar.top').length === n", arg=len(classifier.predict(text))
            )
            lit = page.eval_on_selector_all(".bar.top", "rows => rows.map(r => r.dataset.label)")
            assert set(lit) == set(classifier.predict(text)) and len(lit) >= 2
            assert page.text_content("#top-label") == ", ".join(classifier.predict(text))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
