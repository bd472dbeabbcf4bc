"""The Emotion Draw page shades each typed word by its part in the top emotion, in a real browser.

The page is served by the real `emodraw serve` of the keyword model (spawned_server, `SERVER`). A small stand-in
(stub_server: the page, /labels, /health and /predict answering with emodraw.inference.explain over the same
model) plays an older server without explanations and answers made up for the edge cases."""

import contextlib
import json
import re
import socket
import threading
import time
from importlib import resources

import pytest
from helpers.browser import chromium_page

from emodraw.errors import EmodrawError
from emodraw.inference.explain import explain, words_of

SENTENCE = "i am furious about the delay"


@contextlib.contextmanager
def stub_server(run, *, explains: bool = True):
    """The base URL of an app serving the page and /labels, /health, /predict over the run's classifier; with
    explains=False it answers as a server that predates explanations (no "explanation", parameters ignored)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Route

    from emodraw.inference.classifier import Classifier

    clf = Classifier.load(run, device="cpu", precision="fp32")
    page = (resources.files("emodraw") / "resources" / "web" / "index.html").read_text(encoding="utf-8")

    async def predict(request):
        body = json.loads(await request.body())
        text = body["text"]
        row = clf.details([text])[0]
        if explains and (body.get("parameters") or {}).get("explain"):
            try:
                row["explanation"] = explain(clf.probabilities, clf.labels, text)["explanation"]
            except EmodrawError as exc:  # as the server answers a text it cannot explain
                return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse(row)

    app = Starlette(
        routes=[
            Route("/", lambda request: HTMLResponse(page)),
            Route("/labels", lambda request: JSONResponse({"labels": clf.labels})),
            Route("/health", lambda request: JSONResponse({"model": str(clf.path), "backend": clf.backend})),
            Route("/predict", predict, methods=["POST"]),
        ]
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the stub server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def spawned_server(run):
    """The real `emodraw serve` of the run, for when its /predict answers parameters.explain."""
    from emodraw.serve import spawn_server

    proc, url = spawn_server(run, timeout_s=30)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


SERVER = spawned_server  # the stand-in instead: SERVER = stub_server


@pytest.fixture(scope="module")
def keyword_classifier(keyword_run):
    from emodraw.inference.classifier import Classifier

    return Classifier.load(keyword_run, device="cpu", precision="fp32")


def alpha(css_color: str) -> float:
    """The opacity of a computed CSS colour: "rgba(r, g, b, a)", or "rgb(r, g, b)" (opaque)."""
    numbers = [float(x) for x in re.findall(r"[\d.]+", css_color)]
    return numbers[3] if len(numbers) == 4 else 1.0


def typed_words(page, sentence: str) -> list[dict]:
    """Type `sentence`, wait for its answer, and read each shaded word of the page."""
    page.wait_for_selector(".bar", state="attached")
    page.fill("#text", "")
    page.type("#text", sentence, delay=10)
    # The whole sentence shown back: the answer to the last request, not one sent while typing.
    page.wait_for_function(
        "t => document.body.dataset.ready && document.querySelector('#words').textContent === t",
        arg=sentence,
        timeout=15000,
    )
    return page.eval_on_selector_all(
        "#words .word",
        """spans => spans.map(s => ({text: s.textContent, weight: parseFloat(s.dataset.weight), title: s.title,
                                   against: s.classList.contains("against"),
                                   background: getComputedStyle(s).backgroundColor}))""",
    )


@pytest.mark.browser
def test_the_keyword_is_the_most_strongly_shaded_word(keyword_run, keyword_classifier):
    expected = keyword_classifier.explain(SENTENCE)
    with SERVER(keyword_run) as url, chromium_page() as page:
        sent = []
        page.on("request", lambda r: sent.append(r.post_data_json) if r.url.endswith("/predict") else None)
        page.goto(url + "/")
        words = typed_words(page, SENTENCE)
        assert page.text_content("#top-label") == expected["label"] == "anger"
        assert page.is_visible("#why")
    assert sent and sent[-1] == {"text": SENTENCE, "parameters": {"explain": True}}
    assert [w["text"] for w in words] == SENTENCE.split()
    # The page shows the model's own weights (to bf16's rounding: a server on a bf16 CPU scores in bf16).
    for word, want in zip(words, expected["explanation"]):
        assert word["weight"] == pytest.approx(want["weight"], abs=1e-2)
        told = re.search(r"weight ([-+]?[\d.]+)", word["title"])  # the tooltip says the weight too
        assert word["title"].startswith(word["text"] + ":")
        assert float(told[1]) == pytest.approx(word["weight"], abs=1e-3)
    shades = [alpha(w["background"]) for w in words]
    top = [w["text"] for w in words].index("furious")
    assert max(w["weight"] for w in words) == words[top]["weight"] > 0
    assert shades[top] == pytest.approx(1.0, abs=1e-3)  # the largest |weight| is drawn at full opacity
    assert all(shade < shades[top] for i, shade in enumerate(shades) if i != top)
    assert all(w["weight"] < words[top]["weight"] for i, w in enumerate(words) if i != top)
    most = words[top]["weight"]
    for word, shade in zip(words, shades):  # a word that held the emotion back is never shaded, and underlined
        assert word["against"] == (word["weight"] <= -0.05 * most)  # unless its weight is noise
        if word["weight"] <= 0:
            assert shade == 0


@pytest.mark.browser
def test_words_are_placed_by_code_points_past_an_emoji(keyword_run):
    # The server's offsets count code points; an emoji is two UTF-16 units in the page's strings.
    sentence = "\U0001f621 so furious today"
    with SERVER(keyword_run) as url, chromium_page() as page:
        page.goto(url + "/")
        page.wait_for_selector(".bar", state="attached")
        page.fill("#text", sentence)
        page.wait_for_function("t => document.querySelector('#words').textContent === t", arg=sentence, timeout=15000)
        shown = page.eval_on_selector_all("#words .word", "spans => spans.map(s => s.textContent)")
    assert shown == [w for w, _, _ in words_of(sentence)]


@pytest.mark.browser
def test_a_server_without_explanations_still_draws_the_scores(keyword_run):
    with stub_server(keyword_run, explains=False) as url, chromium_page() as page:
        page.goto(url + "/")
        page.wait_for_selector(".bar", state="attached")
        page.type("#text", SENTENCE, delay=10)
        page.wait_for_function(
            "t => document.body.dataset.ready && document.querySelector('#text').value === t && "
            "document.querySelector('#top-label')",
            arg=SENTENCE,
            timeout=15000,
        )
        page.wait_for_timeout(400)  # any answer still on its way
        assert page.text_content("#top-label") == "anger"
        assert len(page.query_selector_all(".bar.top")) == 1
        assert page.is_hidden("#why") and page.query_selector_all("#words .word") == []


@pytest.mark.browser
def test_a_word_that_held_the_emotion_back_is_underlined_not_shaded(keyword_run):
    # The keyword model is too sure of itself to give a word a weight against its emotion: this answer is
    # made up, to check how the page draws each kind of weight (and words whose offsets do not fit).
    text = "furious but calm now ok"
    weights = [0.5, -0.2, 0.001, -0.001, 0.25]
    rows = [{"word": w, "start": s, "end": e, "weight": x} for (w, s, e), x in zip(words_of(text), weights)]
    rows[4] = {"word": "ok", "weight": 0.25}  # no offsets: placed by its text
    answer = {"label": "anger", "scores": {"anger": 1.0}, "truncated": False, "explanation": rows}
    with stub_server(keyword_run) as url, chromium_page() as page:
        page.route("**/predict", lambda route: route.fulfill(json=answer))
        page.goto(url + "/")
        page.wait_for_selector(".bar", state="attached")
        page.fill("#text", text)
        page.wait_for_function("t => document.querySelector('#words').textContent === t", arg=text, timeout=15000)
        shown = page.eval_on_selector_all(
            "#words .word",
            """spans => spans.map(s => [s.textContent, parseFloat(s.dataset.weight), s.classList.contains("against"),
                                        getComputedStyle(s).backgroundColor])""",
        )
    assert [(word, weight, against) for word, weight, against, _ in shown] == [
        ("furious", 0.5, False),
        ("but", -0.2, True),  # against anger: underlined
        ("calm", 0.001, False),
        ("now", -0.001, False),  # against it, but by 0.2 % of the largest weight: noise, left plain
        ("ok", 0.25, False),
    ]
    # Opacity is weight / largest weight; chromium keeps it in steps of 1/255.
    assert [alpha(background) for *_, background in shown] == pytest.approx([1.0, 0.0, 0.002, 0.0, 0.5], abs=3e-3)


def test_the_page_knows_how_many_words_the_server_explains():
    from emodraw.inference.explain import MAX_EXPLAIN_WORDS

    page = (resources.files("emodraw") / "resources" / "web" / "index.html").read_text(encoding="utf-8")
    assert re.search(r"const MAX_EXPLAIN_WORDS = (\d+);", page)[1] == str(MAX_EXPLAIN_WORDS)


@pytest.mark.browser
def test_a_text_too_long_to_explain_is_still_scored(keyword_run):
    from emodraw.inference.explain import MAX_EXPLAIN_WORDS

    text = " ".join(["furious"] + ["today"] * MAX_EXPLAIN_WORDS)
    with SERVER(keyword_run) as url, chromium_page() as page:
        sent = []
        page.on("request", lambda r: sent.append(r.post_data_json) if r.url.endswith("/predict") else None)
        page.goto(url + "/")
        page.wait_for_selector(".bar", state="attached")
        page.fill("#text", text)
        page.wait_for_selector("body[data-ready]", timeout=15000)
        assert page.text_content("#top-label") == "anger" and page.is_hidden("#why")
        assert not page.is_visible("#status.error")
    assert sent == [{"text": text, "parameters": {"explain": False}}]
