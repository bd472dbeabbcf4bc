"""`emodraw push`: a verified checkpoint to the Hub, or one line that says why not (no token, offline, no
network, the Hub refusing, a damaged checkpoint). Nothing here reaches the real Hub: the network tests talk to
a closed local port or to a local server."""

import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "emodraw.cli"]
NO_TOKEN = "emodraw push: error: push needs a Hugging Face token: run `hf auth login` or set HF_TOKEN"
HUB_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_OIDC_RESOURCE", "HF_ENDPOINT")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def push(tmp_path, *args, **env):
    """`emodraw push ARGS` in a child process whose Hugging Face home is empty (no saved token)."""
    home = tmp_path / "hf-home"
    home.mkdir(exist_ok=True)
    child = {k: v for k, v in os.environ.items() if k not in HUB_VARIABLES + PROXY_VARIABLES}
    child.update({"HF_HOME": str(home), "HF_HUB_OFFLINE": "1", "NO_PROXY": "127.0.0.1,localhost", **env})
    return subprocess.run(
        [*CLI, "push", *map(str, args)], capture_output=True, text=True, env=child, timeout=120, cwd=tmp_path
    )


def one_line(result) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_push_without_a_token_says_how_to_get_one(tiny_run, tmp_path):
    assert one_line(push(tmp_path, tiny_run.run_dir, "me/emotion")) == NO_TOKEN
    # offline or not: the token is looked for first, locally
    assert one_line(push(tmp_path, tiny_run.run_dir, "me/emotion", HF_HUB_OFFLINE="0")) == NO_TOKEN


def test_push_finds_a_token_saved_by_hf_auth_login(tiny_run, tmp_path):
    (tmp_path / "hf-home").mkdir()
    (tmp_path / "hf-home" / "token").write_text("hf_saved")
    line = one_line(push(tmp_path, tiny_run.run_dir, "me/emotion"))
    assert "cannot be reached" in line  # past the token check: it stopped at the offline one


def test_push_offline_says_the_hub_cannot_be_reached(tiny_run, tmp_path):
    line = one_line(push(tmp_path, tiny_run.run_dir, "me/emotion", HF_TOKEN="hf_fake"))
    assert line.startswith("emodraw push: error: the Hugging Face Hub cannot be reached") and "HF_HUB_OFFLINE" in line


def test_push_without_a_network_says_the_hub_cannot_be_reached(tiny_run, tmp_path):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    result = push(
        tmp_path, tiny_run.run_dir, "me/emotion", HF_TOKEN="hf_fake", HF_HUB_OFFLINE="0", HF_ENDPOINT=endpoint
    )
    line = one_line(result)
    assert line.startswith(f"emodraw push: error: the Hugging Face Hub cannot be reached at {endpoint}")


class Refusing(http.server.BaseHTTPRequestHandler):
    """A Hub that refuses every token."""

    def answer(self):
        body = b'{"error": "Invalid credentials in Authorization header"}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = answer

    def log_message(self, *args):
        pass


@pytest.fixture
def refusing_hub():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_push_with_a_refused_token_says_so_in_one_line(tiny_run, tmp_path, refusing_hub):
    result = push(
        tmp_path, tiny_run.run_dir, "me/emotion", HF_TOKEN="hf_fake", HF_HUB_OFFLINE="0", HF_ENDPOINT=refusing_hub
    )
    line = one_line(result)
    assert "refused the push (HTTP 401)" in line and "hf auth login" in line


def test_a_damaged_checkpoint_is_not_pushed(tiny_run, tmp_path):
    folder = tmp_path / "damaged"
    shutil.copytree(tiny_run.checkpoints["best"], folder)
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    line = one_line(push(tmp_path, folder, "me/emotion", HF_TOKEN="hf_fake"))
    assert "model.safetensors" in line and "cannot be reached" not in line  # refused before any network step


def test_push_uploads_the_verified_files_and_nothing_else(tiny_run, tmp_path, monkeypatch, capsys):
    """The upload itself, with huggingface_hub's HfApi replaced by a recorder."""
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.utils import filter_repo_objects

    from emodraw.cli import main

    calls = {}

    class Recorder:
        def __init__(self, token=None):
            calls["token"] = token

        def create_repo(self, repo_id, **kw):
            calls["create_repo"] = (repo_id, kw)
            return huggingface_hub.RepoUrl(f"https://huggingface.co/me/{repo_id}")

        def create_branch(self, repo_id, **kw):
            calls["create_branch"] = (repo_id, kw)

        def upload_folder(self, **kw):
            calls["upload_folder"] = kw
            return type("Commit", (), {"commit_url": "https://huggingface.co/me/emotion/commit/abc"})()

    run = tmp_path / "run"
    shutil.copytree(tiny_run.run_dir, run)
    best = next((run / "checkpoints").glob("*_best_checkpoint"))
    (best / "notes.md").write_text("mine, not the model's")  # not in the manifest: not uploaded
    monkeypatch.setattr(huggingface_hub, "HfApi", Recorder)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_TOKEN", "hf_fake")

    assert main(["push", str(run), "emotion", "--private", "--revision", "dev"]) == 0
    out = capsys.readouterr()
    assert "https://huggingface.co/me/emotion/commit/abc" in out.out
    assert "local paths of the training data" in out.err
    assert calls["token"] == "hf_fake"
    assert calls["create_repo"] == ("emotion", {"private": True, "exist_ok": True, "repo_type": "model"})
    assert calls["create_branch"][0] == "me/emotion" and calls["create_branch"][1]["branch"] == "dev"
    upload = calls["upload_folder"]
    assert upload["repo_id"] == "me/emotion" and upload["revision"] == "dev" and Path(upload["folder_path"]) == best
    files = sorted(p.relative_to(best).as_posix() for p in best.rglob("*") if p.is_file())
    chosen = set(filter_repo_objects(files, allow_patterns=upload["allow_patterns"]))
    assert chosen == set(files) - {"notes.md"}
    assert {"model.safetensors", "config.json", "emodraw.json", "manifest.json", "README.md"} <= chosen
