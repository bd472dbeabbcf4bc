"""Helpers of the tests that tamper with files and expect a one-line refusal from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from helpers.cli import run_cli


def edit_json(path: Path, change) -> None:
    """Rewrite a JSON file through `change(data) -> data`."""
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def one_line_refusal(*args) -> str:
    """Run the CLI in this process: it must exit 2 with one line on stderr; any other exception fails the test."""
    result = run_cli(*args)
    err = result.stderr.strip()
    assert result.returncode == 2, (result.returncode, err)
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err
