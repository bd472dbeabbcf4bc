"""`emodraw ARGS` run in the test's own process: what a subprocess would give (exit status, stdout, stderr)
without starting an interpreter and importing torch and transformers again for every call (seconds each).
The entry point itself (`python -m emodraw`) keeps its own subprocess tests in test_cli.py."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path


def run_cli(*args, input: str | None = None, stdin=None, cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run the CLI on `args` (with `input` or the open file `stdin` as standard input, in `cwd`). An exception
    the CLI does not turn into a message propagates, and fails the test, as a traceback would."""
    from emodraw.cli import main

    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    if input is not None:
        stdin = io.TextIOWrapper(io.BytesIO(input.encode()), encoding="utf-8")
    with contextlib.ExitStack() as stack:
        if cwd is not None:
            stack.enter_context(contextlib.chdir(cwd))
        if stdin is not None:
            stack.callback(setattr, sys, "stdin", sys.stdin)
            sys.stdin = stdin
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse: --help, --version, a bad option
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
