"""Any JSON at all, arbitrary Unicode in its texts (lone surrogates, NULs, line separators included), to
/predict of the in-process app with the tiny model: always 200 or a documented 4xx, never a 500."""

import json

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# The characters that break things are drawn often: a uniform draw would almost never pick a surrogate.
any_char = st.one_of(
    st.characters(codec=None, exclude_categories=()),
    st.integers(0xD800, 0xDFFF).map(chr),
    st.sampled_from(["\x00", "\ufeff", "\r", "\n", " ", "\u2028", "\x85", "\ufffd", '"', "\\"]),
)
any_text = st.text(alphabet=any_char, max_size=40)
any_value = st.one_of(any_text, st.integers(), st.floats(), st.none(), st.booleans(), st.lists(any_text, max_size=3))
payloads = st.one_of(
    st.builds(lambda text: {"text": text}, any_text),
    st.builds(lambda texts: {"texts": texts}, st.lists(any_text, max_size=70)),
    st.builds(lambda texts: {"texts": texts}, st.lists(any_value, max_size=5)),
    st.dictionaries(st.sampled_from(["text", "texts", "other", "\ud800"]), any_value, max_size=3),
    any_value,
)


def encode(payload, how: str) -> bytes:
    if how == "ascii":  # surrogates as JSON escapes: valid JSON in valid UTF-8
        return json.dumps(payload).encode()
    # raw: a surrogate written as its (invalid) UTF-8 bytes, as a careless client would
    return json.dumps(payload, ensure_ascii=False).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def client(tiny_run):
    from emodraw import Classifier
    from emodraw.serve import ServeOptions, create_app

    classifier = Classifier.load(tiny_run.checkpoints["best"])
    with TestClient(create_app(classifier, ServeOptions(batch_window_ms=1))) as client:
        yield client


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=payloads, how=st.sampled_from(["ascii", "raw"]))
def test_any_unicode_to_predict_is_200_or_a_documented_4xx(client, payload, how):
    response = client.post("/predict", content=encode(payload, how), headers={"Content-Type": "application/json"})
    assert response.status_code in (200, 413, 422, 429), response.text
    body = response.json()
    if response.status_code != 200:
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
        return
    rows = [body] if "label" in body else body["results"]
    assert all(set(row) == {"label", "scores", "truncated"} and len(row["scores"]) == 6 for row in rows)
