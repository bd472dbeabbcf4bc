"""The `emodraw` command: a thin dispatcher over the Python API.

Every command's flags are generated from its options dataclass (emodraw.config; see cli.flags), so
`--help` lists each option with its type and default, and a misspelt one is answered with the closest
valid name. What each command then does is in cli.commands.
"""

from __future__ import annotations

import errno
import sys

from emodraw.cli import publishing  # noqa: F401 - registers `emodraw push`
from emodraw.cli.commands import COMMANDS, train_config_from_args
from emodraw.cli.flags import Parser, add_options
from emodraw.errors import EmodrawError
from emodraw.version import __version__

__all__ = ["COMMANDS", "build_parser", "main", "train_config_from_args"]

TRAINING_OPTIONS = "training options (defaults: the offline default job)"


def build_parser() -> Parser:
    parser = Parser(
        prog="emodraw",
        description="Fine-tune, evaluate and serve emotion classifiers "
        "(sadness, joy, love, anger, fear, surprise), or your own labels. Every command but push works offline.",
    )
    parser.add_argument("--version", action="version", version=f"emodraw {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.description)
        if command.config is not None:
            # Checked by TrainConfig itself, so a bad --device reads as a bad `device:` in --config FILE.
            add_options(p, command.config, title=TRAINING_OPTIONS, enforce_choices=False)
        add_options(p, command.options)
    return parser


# Not the file's fault but the machine's: one line even where no file name came with the error.
_STORAGE_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EROFS}


def file_error(exc: OSError) -> str | None:
    """'PATH: No such file or directory', ... for an OSError about a file the user named or the disk it is
    on; None for any other OSError (a bug of ours: it keeps its traceback)."""
    reason = exc.strerror or str(exc)
    if exc.filename is not None:
        return f"{exc.filename}: {reason}"
    return reason if exc.errno in _STORAGE_ERRNOS else None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args, extra = parser.parse_known_args(argv)
    args.argv = argv
    if extra:
        # argparse stops filling `predict`'s TEXT... after an option; take texts given after one.
        if args.command == "predict" and not any(e.startswith("-") for e in extra):
            args.texts = [*getattr(args, "texts", ()), *extra]
        else:
            parser.parse_args(argv)  # reports the unknown option (with a suggestion) and exits 2
    try:
        return COMMANDS[args.command].run(args)
    except EmodrawError as exc:
        print(f"emodraw {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        message = file_error(exc)
        if message is None:
            raise
        print(f"emodraw {args.command}: error: {message}", file=sys.stderr)
        return EmodrawError.exit_code
    except KeyboardInterrupt:
        print(f"emodraw {args.command}: interrupted", file=sys.stderr)
        return 130
