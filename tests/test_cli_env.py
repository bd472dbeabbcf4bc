"""`emodraw serve` options from the environment (EMODRAW_<NAME>), as a container or a service unit sets them:
the variable gives the value, a flag wins over it, a bad value is one line naming the variable, and no other
command reads them. Parsing only: the command's function is replaced by one that keeps the options."""

import dataclasses
import os

import pytest

from emodraw.cli import COMMANDS, main


@pytest.fixture
def parsed(monkeypatch):
    """parsed(*argv) -> the options `emodraw serve ARGV` (or another command) would run with."""
    for name in [n for n in os.environ if n.startswith("EMODRAW_") and n != "EMODRAW_CACHE"]:
        monkeypatch.delenv(name)  # the tester's own shell must not change what the tests see
    seen = []

    def parse(*argv):
        name = argv[0]
        monkeypatch.setitem(COMMANDS, name, dataclasses.replace(COMMANDS[name], function=lambda cfg: seen.append(cfg)))
        assert main(list(argv)) is None  # the replaced function returns None; an error would return 2
        return seen[-1]

    return parse


def test_every_serve_option_can_come_from_the_environment(parsed, monkeypatch):
    for name, value in {
        "CHECKPOINT": "runs/tiny",
        "HOST": "0.0.0.0",
        "PORT": "8080",
        "THREADS": "2",
        "MAX_IN_FLIGHT": "7",
        "BATCH_WINDOW_MS": "1.5",
        "BODY_TIMEOUT": "3",  # the flag's name (--body-timeout), not the field's (body_timeout_s)
        "LONG_TEXT": "chunk",
        "CORS_ORIGIN": "https://a.example, https://b.example",  # repeatable: comma-separated
        "ACCESS_LOG": "yes",
    }.items():
        monkeypatch.setenv(f"EMODRAW_{name}", value)
    cfg = parsed("serve")
    assert (cfg.checkpoint, cfg.host, cfg.port, cfg.threads, cfg.max_in_flight) == ("runs/tiny", "0.0.0.0", 8080, 2, 7)
    assert (cfg.batch_window_ms, cfg.body_timeout_s, cfg.long_text) == (1.5, 3.0, "chunk")
    assert cfg.cors_origin == ("https://a.example", "https://b.example") and cfg.access_log is True


@pytest.mark.parametrize(
    "text, value", [("1", True), ("TRUE", True), ("yes", True), ("0", False), ("false", False), ("No", False)]
)
def test_switches_take_the_usual_words(parsed, monkeypatch, text, value):
    monkeypatch.setenv("EMODRAW_ACCESS_LOG", text)
    assert parsed("serve", "c").access_log is value


def test_a_flag_wins_over_its_variable(parsed, monkeypatch):
    monkeypatch.setenv("EMODRAW_PORT", "8080")
    monkeypatch.setenv("EMODRAW_CHECKPOINT", "from-env")
    monkeypatch.setenv("EMODRAW_CORS_ORIGIN", "https://env.example")
    cfg = parsed("serve", "typed", "--port", "9000", "--cors-origin", "https://flag.example")
    assert (cfg.checkpoint, cfg.port, cfg.cors_origin) == ("typed", 9000, ("https://flag.example",))
    assert parsed("serve").checkpoint == "from-env" and parsed("serve").port == 8080


def test_an_empty_variable_is_unset(parsed, monkeypatch):
    monkeypatch.setenv("EMODRAW_PORT", "")
    assert parsed("serve", "c").port == 8000


def test_the_api_key_still_comes_from_its_variable_and_the_flag_wins(parsed, monkeypatch):
    monkeypatch.setenv("EMODRAW_API_KEY", "from-env")
    assert parsed("serve", "c").api_key == "from-env"
    assert parsed("serve", "c", "--api-key", "typed").api_key == "typed"


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("EMODRAW_PORT", "abc", "EMODRAW_PORT 'abc': must be a whole number"),
        ("EMODRAW_PORT", "99999", "EMODRAW_PORT 99999: must be a whole number <= 65535"),  # the flag's check
        ("EMODRAW_MAX_IN_FLIGHT", "0", "EMODRAW_MAX_IN_FLIGHT 0: needs at least 1"),
        ("EMODRAW_BODY_TIMEOUT", "0", "EMODRAW_BODY_TIMEOUT 0.0: must be a number > 0"),
        ("EMODRAW_BATCH_WINDOW_MS", "soon", "EMODRAW_BATCH_WINDOW_MS 'soon': must be a number"),
        ("EMODRAW_ACCESS_LOG", "maybe", "EMODRAW_ACCESS_LOG 'maybe': must be one of 1, true, yes, 0, false, no"),
        ("EMODRAW_LONG_TEXT", "split", "EMODRAW_LONG_TEXT 'split': must be one of truncate, chunk"),
        ("EMODRAW_CORS_ORIGIN", "https://a.example/x", "EMODRAW_CORS_ORIGIN 'https://a.example/x': must be * or"),
        ("EMODRAW_API_KEY", " ", "--api-key (or $EMODRAW_API_KEY): must not be blank"),  # never the key itself
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(parsed, monkeypatch, capsys, variable, value, message):
    monkeypatch.setenv(variable, value)
    assert main(["serve", "c"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"emodraw serve: error: {message}") and len(err.strip().splitlines()) == 1, err


def test_without_a_checkpoint_argument_or_variable_it_is_one_line(parsed, capsys):
    assert main(["serve"]) == 2
    message = "emodraw serve: error: the following arguments are required: checkpoint (or set EMODRAW_CHECKPOINT)"
    assert capsys.readouterr().err.strip() == message


def test_the_checkpoint_reaches_the_server_from_the_environment(parsed, monkeypatch, tmp_path):
    import emodraw.serve.runner as runner

    seen = {}
    monkeypatch.setattr(runner, "serve", lambda *args, **kwargs: seen.update(args=args, kwargs=kwargs))
    monkeypatch.setenv("EMODRAW_CHECKPOINT", str(tmp_path))
    monkeypatch.setenv("EMODRAW_PORT", "8123")
    assert main(["serve"]) == 0
    values = [*seen["args"], *seen["kwargs"].values()]
    assert str(tmp_path) in values and 8123 in values


def test_other_commands_read_no_variable(parsed, monkeypatch):
    """EMODRAW_CACHE is the adapted backbones' cache; EMODRAW_BATCH_SIZE must not become predict's --batch-size."""
    monkeypatch.setenv("EMODRAW_BATCH_SIZE", "7")
    monkeypatch.setenv("EMODRAW_CHECKPOINT", "from-env")
    assert parsed("predict", "c", "a text").batch_size == 64
    assert parsed("evaluate", "c").batch_size == 128
    with pytest.raises(SystemExit):  # predict's checkpoint is still a required argument
        main(["predict"])


def test_serve_help_says_so(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert exc.value.code == 0 and "from the environment as EMODRAW_<NAME>" in text and "a flag given wins" in text
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "EMODRAW_" not in capsys.readouterr().out
