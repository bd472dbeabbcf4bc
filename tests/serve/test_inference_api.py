"""The Hugging Face text-classification contract beside emodraw's own, and the documented schemas: the real
huggingface_hub.InferenceClient against a real `emodraw serve`, and every answer checked against the models
/openapi.json publishes."""

import math

import httpx
import pytest
from fastapi.testclient import TestClient

TEXT = "i feel wonderful today"


@pytest.fixture(scope="module")
def server(tiny_run):
    from emodraw.serve import spawn_server

    proc, url = spawn_server(tiny_run.checkpoints["best"], timeout_s=30)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def app_client(fake_classifier):
    from emodraw.serve import create_app

    with TestClient(create_app(fake_classifier)) as client:
        yield client


def test_the_real_inference_client_gets_sorted_scores_with_top_k(server, tiny_run, monkeypatch):
    from huggingface_hub import InferenceClient, constants

    from emodraw import Classifier

    # The tests run with HF_HUB_OFFLINE=1, under which the client refuses every URL, a loopback one too; the
    # server is on 127.0.0.1, so nothing leaves the machine.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    client = InferenceClient(base_url=server)
    every = client.text_classification(TEXT)
    want = Classifier.load(tiny_run.checkpoints["best"]).predict_proba(TEXT)
    assert [e.label for e in every] == sorted(want, key=want.get, reverse=True)
    assert {e.label: e.score for e in every} == pytest.approx(want, abs=1e-4)
    two = client.text_classification(TEXT, top_k=2)
    assert [e.label for e in two] == [e.label for e in every[:2]]
    sigmoid = client.text_classification(TEXT, function_to_apply="sigmoid")
    assert sum(e.score for e in sigmoid) != pytest.approx(1.0, abs=1e-3)  # not softmax: each label on its own
    assert all(0 < e.score < 1 for e in sigmoid)


def test_inputs_answer_one_sorted_list_per_input_and_post_root_is_predict(server):
    from emodraw.serve.schemas import InferenceAnswer

    one = httpx.post(server + "/", json={"inputs": TEXT}).json()
    many = httpx.post(server + "/predict", json={"inputs": [TEXT, "i am so scared"], "parameters": {"top_k": 3}})
    InferenceAnswer.model_validate(one)
    InferenceAnswer.model_validate(many.json())
    assert len(one) == 1 and len(one[0]) == 6 and len(many.json()) == 2 and len(many.json()[1]) == 3
    scores = [item["score"] for item in one[0]]
    assert scores == sorted(scores, reverse=True) and math.isclose(sum(scores), 1, abs_tol=1e-4)
    # A batch of two pads the shorter text, which moves float32 scores by an ulp or so: same labels, same order,
    # the same scores to 1e-5.
    first = many.json()[0]
    assert [item["label"] for item in first] == [item["label"] for item in one[0][:3]]
    assert [item["score"] for item in first] == pytest.approx([item["score"] for item in one[0][:3]], abs=1e-5)


def test_parameters_apply_to_emodraws_own_shapes_too(app_client):
    from emodraw.serve.schemas import Prediction, Predictions

    one = app_client.post("/predict", json={"text": "a", "parameters": {"top_k": 2}}).json()
    Prediction.model_validate(one)
    assert list(one["scores"]) == ["joy", "sadness"] and one["label"] == "joy"  # joy first, then the first tie
    raw = app_client.post("/predict", json={"texts": ["a", "b"], "parameters": {"function_to_apply": "none"}})
    Predictions.model_validate(raw.json())
    assert raw.json()["results"][1]["scores"]["joy"] == pytest.approx(10.0)  # the fake's logit, untouched


@pytest.mark.parametrize(
    "body, message",
    [
        ({"inputs": TEXT, "parameters": {"temperature": 2}}, "unknown parameter 'temperature'"),
        ({"inputs": TEXT, "parameters": {"top_k": 0}}, "top_k"),
        ({"inputs": TEXT, "parameters": {"top_k": True}}, "top_k"),
        ({"inputs": TEXT, "parameters": {"function_to_apply": "relu"}}, "function_to_apply"),
        ({"inputs": TEXT, "parameters": {"explain": "yes"}}, "explain"),
        ({"inputs": TEXT, "parameters": [1]}, '"parameters" must be an object'),
        ({"inputs": [], "parameters": {}}, "non-empty list"),
        ({"inputs": [TEXT, 3]}, '"inputs"[1] must be a string'),
        ({"inputs": TEXT, "text": TEXT}, "exactly one"),
        ({"inputs": TEXT, "options": {}}, "unknown field 'options'"),
    ],
)
def test_a_wrong_parameter_or_field_is_a_422_naming_it(app_client, fake_classifier, body, message):
    response = app_client.post("/predict", json=body)
    assert response.status_code == 422 and message in response.json()["error"], response.text
    assert fake_classifier.calls == []


def test_null_parameters_mean_the_defaults_as_the_client_sends_them(app_client):
    body = {"inputs": "a", "parameters": {"top_k": None, "function_to_apply": None}}
    assert len(app_client.post("/", json=body).json()[0]) == 6


def test_explain_in_every_shape(app_client, fake_classifier):
    from emodraw.serve.schemas import InferenceAnswer, Prediction

    row = app_client.post("/predict", json={"text": "i am glad", "parameters": {"explain": True}}).json()
    Prediction.model_validate(row)
    assert [w["word"] for w in row["explanation"]] == ["i", "am", "glad"]
    assert fake_classifier.calls[-1][0] == "i am glad" and len(fake_classifier.calls[-1]) == 4  # one model call
    listed = app_client.post("/", json={"inputs": ["i am glad"], "parameters": {"explain": True}}).json()
    InferenceAnswer.model_validate(listed)
    assert listed[0]["scores"][0]["label"] == "joy" and len(listed[0]["explanation"]) == 3


def test_openapi_documents_the_request_every_answer_and_the_errors(app_client):
    schema = app_client.get("/openapi.json").json()
    post = schema["paths"]["/predict"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PredictRequest")
    assert {"200", "413", "422", "429"} <= set(post["responses"])
    assert post["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
    refs = {
        item["$ref"].rsplit("/", 1)[1]
        for item in post["responses"]["200"]["content"]["application/json"]["schema"]["anyOf"]
    }
    assert refs == {"Prediction", "Predictions", "InferenceAnswer"} and refs <= set(schema["components"]["schemas"])
    assert "Parameters" in schema["components"]["schemas"] and "/" in schema["paths"]
    health = schema["paths"]["/health"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert health["$ref"].endswith("/Health")


def test_health_names_the_model_and_no_path_of_the_disk(server, tiny_run):
    from emodraw.serve.schemas import Health

    health = httpx.get(server + "/health").json()
    Health.model_validate(health)
    checkpoint = tiny_run.checkpoints["best"]
    assert checkpoint.name in health["model"] and str(checkpoint.parent) not in httpx.get(server + "/health").text
    assert "/" not in health["model"].replace(f"{tiny_run.run_dir.name}/", "", 1)


def test_a_multi_label_model_answers_sigmoid_scores_by_default(fake_classifier):
    from emodraw.serve import create_app

    fake_classifier.multi_label = True  # as `problem_type: multi_label_classification` in config.json makes it
    with TestClient(create_app(fake_classifier)) as client:
        scores = {item["label"]: item["score"] for item in client.post("/", json={"inputs": "a"}).json()[0]}
        assert client.get("/health").json()["multi_label"] is True
    assert scores["joy"] == pytest.approx(1 / (1 + math.exp(-10))) and scores["sadness"] == pytest.approx(0.5)
