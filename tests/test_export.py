import json

import numpy as np
import pytest
from helpers.cli import run_cli

from emodraw import Classifier
from emodraw.export import ExportParityError, export
from emodraw.inference.classifier import OnnxClassifier

TEXTS = [
    "i feel wonderful today",
    "i am so scared of the dark",
    "this made me furious",
    "i miss her so much",
    "what a surprise that was",
    "i love you",
]


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "onnx"
    report = export(tiny_run.checkpoints["best"], out, int8=True, log=lambda m: None)
    return out, report


def test_export_folder_and_parity_report(exported):
    out, report = exported
    names = {p.name for p in out.iterdir()}
    assert {
        "model.onnx",
        "model_int8.onnx",
        "config.json",
        "tokenizer.json",
        "emodraw_export.json",
        "manifest.json",
    } <= names
    meta = json.loads((out / "emodraw_export.json").read_text())
    assert meta["parity_passed"] and meta["default"] == "model_int8.onnx"
    assert meta["model.onnx"]["agreement"] == 1.0 and meta["model.onnx"]["max_score_diff"] < 1e-4
    assert meta["model_int8.onnx"]["score_torch"] - meta["model_int8.onnx"]["score_onnx"] <= 0.005


def test_onnx_model_has_dynamic_batch_and_sequence_axes(exported):
    import onnx

    model = onnx.load(str(exported[0] / "model.onnx"))
    assert model.opset_import[0].version >= 14
    dims = [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "sequence"]


def test_onnx_predictor_equals_pytorch(tiny_run, exported):
    torch_clf = Classifier.load(tiny_run.checkpoints["best"], precision="fp32")
    onnx_clf = Classifier.load(exported[0])
    assert isinstance(onnx_clf, OnnxClassifier) and onnx_clf.variant == "model_int8.onnx"
    fp32 = OnnxClassifier.load(exported[0], variant="model.onnx")
    assert fp32.labels == torch_clf.labels
    np.testing.assert_allclose(fp32.logits(TEXTS), torch_clf.logits(TEXTS), atol=1e-4)
    assert fp32.predict(TEXTS) == torch_clf.predict(TEXTS)
    assert set(onnx_clf.predict_proba(TEXTS[0])) == set(torch_clf.labels)


def test_deduplication_merges_identical_weights(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from emodraw.export import deduplicate_initializers

    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w1"], ["h"]),
            helper.make_node("Add", ["h", "h"], ["y"]),
            helper.make_node("MatMul", ["x", "w2"], ["z"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3]),
            helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3]),
        ],
        [numpy_helper.from_array(w, "w1"), numpy_helper.from_array(w.copy(), "w2")],
    )
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert deduplicate_initializers(path) == 1
    merged = onnx.load(str(path))
    assert [i.name for i in merged.graph.initializer] == ["w1"]
    assert merged.graph.node[2].input[1] == "w1"
    onnx.checker.check_model(merged)


def test_a_broken_export_is_refused_and_leaves_nothing(tiny_run, tmp_path, monkeypatch):
    import onnx
    from onnx import numpy_helper

    import emodraw.export as export_module

    real = export_module.deduplicate_initializers

    def tamper(path):  # an exporter bug: the classifier's weights come out scrambled
        count = real(path)
        model = onnx.load(str(path))
        for init in model.graph.initializer:
            if "classifier.weight" in init.name:
                init.CopyFrom(numpy_helper.from_array(-5 * numpy_helper.to_array(init)[::-1].copy(), init.name))
        onnx.save(model, str(path))
        return count

    monkeypatch.setattr(export_module, "deduplicate_initializers", tamper)
    with pytest.raises(ExportParityError, match=r"same label on only .* % of sentences"):
        export(tiny_run.checkpoints["best"], tmp_path / "bad", log=lambda m: None)
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
    kept = export(tiny_run.checkpoints["best"], tmp_path / "forced", force=True, log=lambda m: None)
    assert kept["parity_passed"] is False and (tmp_path / "forced" / "model.onnx").is_file()


def test_predict_and_evaluate_cli_on_an_export(tiny_run, exported):
    out, _ = exported
    via_onnx = run_cli("predict", out, "--json", *TEXTS)
    assert via_onnx.returncode == 0, via_onnx.stderr
    via_torch = run_cli("predict", tiny_run.checkpoints["best"], "--precision", "fp32", "--json", *TEXTS)
    onnx_rows = [json.loads(line) for line in via_onnx.stdout.splitlines()]
    torch_rows = [json.loads(line) for line in via_torch.stdout.splitlines()]
    # the default model of this export is int8: same labels here, scores within int8 noise
    assert [r["label"] for r in onnx_rows] == [r["label"] for r in torch_rows]
    evaluated = run_cli("evaluate", out, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["n"] == 100


def _predicted(*args) -> list[str]:
    result = run_cli("predict", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_fp32_export_scores_match_pytorch_through_predict(tiny_run, tmp_path):
    out = tmp_path / "fp32"
    export(tiny_run.checkpoints["best"], out, log=lambda m: None)
    onnx_rows = [json.loads(line) for line in _predicted(out, "--json", *TEXTS)]
    torch_rows = [
        json.loads(line) for line in _predicted(tiny_run.checkpoints["best"], "--precision", "fp32", "--json", *TEXTS)
    ]
    for a, b in zip(onnx_rows, torch_rows):
        assert a["label"] == b["label"]
        assert max(abs(a["scores"][k] - b["scores"][k]) for k in a["scores"]) < 1e-3
