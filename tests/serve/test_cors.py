"""Cross-origin calls (`--cors-origin ORIGIN`): off unless asked for; then a browser page from that origin may
call the API -- its preflight is answered, even with an API key, since a preflight never carries the key --
and a page from any other origin may not."""

import pytest
from fastapi.testclient import TestClient

ALLOWED = "https://app.example"
KEY = "correct-horse-battery-staple"
TEXT = "i feel wonderful today"


def client_for(classifier, **options) -> TestClient:
    from emodraw.serve import ServeOptions, create_app

    return TestClient(create_app(classifier, ServeOptions(**options)))


def preflight(client: TestClient, origin: str, headers: str = "content-type"):
    """What a browser sends before a cross-origin POST with a JSON body."""
    return client.options(
        "/predict",
        headers={"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": headers},
    )


def test_a_preflight_from_the_allowed_origin_is_answered(fake_classifier):
    with client_for(fake_classifier, cors_origin=(ALLOWED,)) as client:
        response = preflight(client, ALLOWED, "content-type, authorization")
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == ALLOWED
        assert "POST" in response.headers["access-control-allow-methods"]
        assert "authorization" in response.headers["access-control-allow-headers"].lower()
        posted = client.post("/predict", json={"text": TEXT}, headers={"Origin": ALLOWED})
        assert posted.status_code == 200 and posted.headers["access-control-allow-origin"] == ALLOWED
    assert fake_classifier.calls == [[TEXT]]  # the preflight never reached the model


@pytest.mark.parametrize("origin", ["https://evil.example", "http://app.example", "https://app.example.evil"])
def test_other_origins_get_no_allow_header(fake_classifier, origin):
    with client_for(fake_classifier, cors_origin=(ALLOWED,)) as client:
        assert "access-control-allow-origin" not in preflight(client, origin).headers
        posted = client.post("/predict", json={"text": TEXT}, headers={"Origin": origin})
        assert "access-control-allow-origin" not in posted.headers  # the browser keeps the answer from the page


def test_cors_is_off_by_default(fake_classifier):
    with client_for(fake_classifier) as client:
        response = preflight(client, ALLOWED)
        assert response.status_code >= 400 and "access-control-allow-origin" not in response.headers
        posted = client.post("/predict", json={"text": TEXT}, headers={"Origin": ALLOWED})
        assert posted.status_code == 200 and "access-control-allow-origin" not in posted.headers


def test_with_an_api_key_the_preflight_passes_and_the_request_still_needs_the_key(fake_classifier):
    with client_for(fake_classifier, cors_origin=(ALLOWED,), api_key=KEY) as client:
        response = preflight(client, ALLOWED, "content-type, authorization")  # no Authorization: none is sent
        assert response.status_code == 200 and response.headers["access-control-allow-origin"] == ALLOWED
        refused = client.post("/predict", json={"text": TEXT}, headers={"Origin": ALLOWED})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == ALLOWED  # so the page can read why
        keyed = client.post(
            "/predict", json={"text": TEXT}, headers={"Origin": ALLOWED, "Authorization": f"Bearer {KEY}"}
        )
        assert keyed.status_code == 200 and keyed.json()["label"] == "joy"
    assert fake_classifier.calls == [[TEXT]]


def test_a_star_allows_every_origin(fake_classifier):
    with client_for(fake_classifier, cors_origin=("*",)) as client:
        response = preflight(client, "https://anywhere.example")
        assert response.status_code == 200 and response.headers["access-control-allow-origin"] in (
            "*",
            "https://anywhere.example",
        )
