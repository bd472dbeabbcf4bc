"""The API key (issue #20): with one set, every route that gives data or runs the model wants
`Authorization: Bearer <key>`; the page and the API docs load without it (they hold no data, and a
browser cannot send a header when it opens a URL). A host beyond loopback is warned about."""

import re

import pytest
from fastapi.testclient import TestClient
from helpers.browser import chromium_page

KEY = "correct-horse-battery-staple"
TEXT = "i feel wonderful today"


@pytest.fixture
def keyed(fake_classifier):
    from emodraw.serve import ServeOptions, create_app

    with TestClient(create_app(fake_classifier, ServeOptions(api_key=KEY))) as client:
        yield client


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-key"},
        {"Authorization": f"Bearer {KEY}x"},
        {"Authorization": KEY},
        {"Authorization": f"Basic {KEY}"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer \u00e9t\u00e9".encode()},  # not ASCII: as raw UTF-8 bytes
        {"X-Api-Key": KEY},
    ],
)
def test_without_the_right_bearer_token_every_data_route_is_401(keyed, fake_classifier, headers):
    for method, path in [("GET", "/health"), ("GET", "/labels"), ("POST", "/predict"), ("GET", "/nowhere")]:
        response = keyed.request(method, path, json={"text": TEXT}, headers=headers)
        assert response.status_code == 401, (method, path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert set(response.json()) == {"error"} and "API key" in response.json()["error"]
    assert fake_classifier.calls == []  # refused before the body was read: the model never saw it


def test_with_the_right_bearer_token_everything_answers(keyed, fake_classifier):
    for auth in (f"Bearer {KEY}", f"bearer {KEY}"):  # the scheme is case-insensitive (RFC 9110)
        headers = {"Authorization": auth}
        assert keyed.get("/health", headers=headers).status_code == 200
        assert keyed.get("/labels", headers=headers).json()["labels"][0] == "sadness"
        assert keyed.post("/predict", json={"text": TEXT}, headers=headers).json()["label"] == "joy"
    assert fake_classifier.calls == [[TEXT], [TEXT]]


def test_the_page_and_the_api_docs_load_without_the_key_and_the_docs_know_the_scheme(keyed):
    page = keyed.get("/")
    assert page.status_code == 200 and "Emotion Draw" in page.text and "Authorization" in page.text
    docs = keyed.get("/docs")
    assert docs.status_code == 200
    script = re.search(r'src="([^"]*swagger-ui-bundle\.js)"', docs.text).group(1)
    assert keyed.get(script).status_code == 200
    schema = keyed.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert schema["security"] == [{"bearer": []}]


def test_the_key_is_compared_in_constant_time(keyed, monkeypatch):
    import hmac

    from emodraw.serve import security

    seen, real = [], hmac.compare_digest
    monkeypatch.setattr(security.hmac, "compare_digest", lambda a, b: seen.append((a, b)) or real(a, b))
    assert keyed.get("/labels", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert keyed.get("/labels", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert seen == [(b"nope", KEY.encode()), (KEY.encode(), KEY.encode())]


def test_without_a_key_nothing_asks_for_one(fake_classifier):
    from emodraw.serve import create_app

    with TestClient(create_app(fake_classifier)) as client:
        assert client.post("/predict", json={"text": TEXT}).status_code == 200
        assert "securitySchemes" not in client.get("/openapi.json").json().get("components", {})


def test_an_empty_or_non_ascii_key_is_refused():
    from emodraw.errors import ConfigError
    from emodraw.serve import ServeOptions, create_app

    for key in ("", "  ", "clé", "two words", "tab\there"):
        with pytest.raises(ConfigError, match="API key"):
            create_app(None, ServeOptions(api_key=key))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1"])
def test_loopback_hosts_get_no_warning(host):
    from emodraw.serve.security import exposure_warning

    assert exposure_warning(host, None) is None and exposure_warning(host, KEY) is None


def test_serving_beyond_loopback_warns_and_says_how_to_protect_it(monkeypatch, fake_classifier):
    from emodraw.inference.classifier import Classifier
    from emodraw.serve import ServeOptions, runner, serve

    monkeypatch.setattr(Classifier, "load", staticmethod(lambda *a, **k: fake_classifier))
    ran = []
    monkeypatch.setattr(runner, "run_until_stopped", lambda server: ran.append({"host": server.config.host}))
    for host, key, wanted in [
        ("0.0.0.0", None, "no authentication"),
        ("192.168.1.7", None, "--api-key"),
        ("myhost.example", None, "EMODRAW_API_KEY"),
        ("0.0.0.0", KEY, "needs the API key"),
    ]:
        lines = []
        serve("model", host, 8000, options=ServeOptions(api_key=key), log=lines.append)
        warnings = [line for line in lines if line.startswith("warning:")]
        assert len(warnings) == 1 and host in warnings[0] and wanted in warnings[0], lines
        assert KEY not in " ".join(lines)  # the key itself is never logged
    lines = []
    serve("model", "127.0.0.1", 8000, log=lines.append)
    assert not [line for line in lines if "warning" in line] and ran[-1]["host"] == "127.0.0.1"


@pytest.mark.browser
def test_the_page_asks_for_the_key_and_then_works_in_a_real_browser(spawn):
    import httpx

    url = spawn("--api-key", KEY)
    sentence = "i am so scared of the dark"
    auth = {"Authorization": f"Bearer {KEY}"}
    expected = httpx.post(url + "/predict", json={"text": sentence}, headers=auth).json()["label"]
    with chromium_page() as page:
        page.goto(url + "/")
        page.wait_for_selector("#key-form", state="visible")
        assert "needs its API key" in page.text_content("#status")
        page.fill("#key", "not-the-key")
        page.click("#key-form button")
        page.wait_for_function("document.querySelector('#status').textContent.includes('refused')")
        page.fill("#key", KEY)
        page.click("#key-form button")
        page.wait_for_selector(".bar", state="attached")
        assert page.is_hidden("#key-form")
        page.type("#text", sentence, delay=10)
        page.wait_for_selector("body[data-ready]", timeout=15000)
        assert page.text_content("#top-label") == expected
