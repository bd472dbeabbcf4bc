"""Helpers of the tests that tamper with files and expect a one-line refusal from the CLI."""

from __future__ import annotations

import json
from pathlib import Path


def edit_json(path: Path, change) -> None:
    """Rewrite a JSON file through `change(data) -> data`."""
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def one_line_refusal(capsys, *args) -> str:
    """Run the CLI in this process: it must exit 2 with one line on stderr; any other exception fails the test."""
    from emodraw.cli import main

    capsys.readouterr()
    assert main([str(a) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err
