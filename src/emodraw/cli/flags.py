"""Command-line flags generated from an options dataclass (emodraw.config): one flag per field, typed,
with its choices, aliases and help, and the type and default appended to that help. A command may also take
every option from the environment (`read_environment`: serve's EMODRAW_PORT, ...); a flag given wins."""

from __future__ import annotations

import argparse
import dataclasses
import os
from typing import Any

from emodraw.config.options import KIND_WORDS, field_kind, flag, suggest
from emodraw.errors import ConfigError

ADVANCED_TITLE = "engine knobs for benchmarks: alternatives to the measured defaults (docs/PERFORMANCE.md)"


class Parser(argparse.ArgumentParser):
    """argparse, but a bad option gets one line with a suggestion, and abbreviations are refused."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args=None, namespace=None):
        namespace, extra = super().parse_known_args(args, namespace)
        self._command = getattr(namespace, "command", None)  # for error(): suggest that command's options
        return namespace, extra

    def error(self, message: str):
        if message.startswith("unrecognized arguments:"):
            options = [s for action in self._actions for s in action.option_strings]
            for sub in self._subparsers._group_actions if self._subparsers else []:
                for name, parser in getattr(sub, "choices", {}).items():
                    if getattr(self, "_command", None) in (None, name):
                        options += [s for action in parser._actions for s in action.option_strings]
            words = message.split(":", 1)[1].split()
            word = next((w for w in words if w.startswith("--")), words[0] if words else "")
            message = f"unknown option {word}{suggest(word.split('=')[0], options)}"
        self.exit(2, f"{self.prog}: error: {message}\n")


class HelpAll(argparse.Action):
    """--help-all: --help with the advanced options too (they carry their help in `advanced_help`)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        for action in parser._actions:
            if hasattr(action, "advanced_help"):
                action.help = action.advanced_help
        parser.print_help()
        parser.exit()


def _required(f: dataclasses.Field) -> bool:
    return bool(f.metadata.get("required")) or f.default is dataclasses.MISSING


def describe(f: dataclasses.Field) -> str:
    """'[int, default: 32]', '[str, required]', ... : what --help appends to a field's own help."""
    kind, many = field_kind(f)
    meta, name = f.metadata, kind.__name__
    positional = meta.get("positional")
    if positional in (True, "+"):
        return f"[{name}{', one or more' if positional == '+' else ''}]"
    if many and not positional and not meta.get("nargs"):
        name += ", repeatable"
    if _required(f):
        return f"[{name}, required]"
    if meta.get("default_text") is not None:
        shown = meta["default_text"]
    elif many:
        shown = ", ".join(f.default) or "none"
    else:
        shown = f.default
    return f"[{name}, default: {shown}]"


def add_options(parser: argparse.ArgumentParser, cls, title: str | None = None, enforce_choices: bool = True) -> None:
    """One flag (or positional argument) per field of the dataclass `cls`.

    Defaults are SUPPRESSed: only what the user typed lands in the namespace, so the dataclass alone holds
    the defaults (from_args fills in the rest) and train can tell typed flags from a preset's values.
    enforce_choices=False leaves choices to the dataclass's own check, whose message then reads the same
    whether the value came from a flag, a preset or a YAML file. For a class that reads the environment, a
    required option may be left out on the command line: from_args then looks for its variable."""
    container = parser.add_argument_group(title) if title else parser
    from_env = cls in ENV_PREFIXES
    advanced = None
    exclusive: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        meta = f.metadata
        kind, many = field_kind(f)
        # argparse %-formats help texts: a plain "%" in ours must reach it doubled.
        text = f"{meta.get('help', '')} {describe(f)}".strip().replace("%", "%%")
        where = container
        if meta.get("advanced"):
            advanced = advanced or parser.add_argument_group(ADVANCED_TITLE)
            where = advanced
        if meta.get("exclusive"):
            if meta["exclusive"] not in exclusive:
                exclusive[meta["exclusive"]] = where.add_mutually_exclusive_group()
            where = exclusive[meta["exclusive"]]
        shown_help = argparse.SUPPRESS if meta.get("advanced") else text
        kw: dict[str, Any] = {"default": argparse.SUPPRESS, "help": shown_help}
        if meta.get("positional"):
            if meta["positional"] is not True:
                kw["nargs"] = meta["positional"]
            if from_env:
                kw["nargs"] = {True: "?", "+": "*"}.get(meta["positional"], meta["positional"])
            action = where.add_argument(f.name, type=kind, metavar=meta.get("metavar"), **kw)
        else:
            flags = [meta.get("flag", flag(f.name)), *meta.get("aliases", ())]
            kw["dest"] = f.name
            if _required(f) and not from_env:
                kw["required"] = True
            if kind is bool:
                kw["action"] = argparse.BooleanOptionalAction if meta.get("negatable", True) else "store_true"
            else:
                kw["type"] = kind
                choices = meta.get("choices")
                if choices and enforce_choices:
                    kw["choices"] = choices
                else:
                    shown = "{" + ",".join(choices) + "}" if choices else kind.__name__.upper()
                    kw["metavar"] = meta.get("metavar", shown)
                if meta.get("nargs"):
                    kw["nargs"] = meta["nargs"]
                elif many:
                    kw["action"] = "append"
            action = where.add_argument(*flags, **kw)
        if meta.get("advanced"):
            action.advanced_help = text
    if advanced is not None:
        parser.add_argument(
            "--help-all", action=HelpAll, help="show this help with the engine knobs kept for benchmarks, and exit"
        )


def from_args(args: argparse.Namespace, cls):
    """The dataclass `cls` from the flags the user typed, then (for a class given to read_environment) the
    environment variables set, then its own defaults. A value from a variable that the dataclass refuses is
    reported under the variable's name: "EMODRAW_PORT 99999: ..." instead of "--port 99999: ..."."""
    prefix = ENV_PREFIXES.get(cls)
    values, variables = {}, {}
    for f in dataclasses.fields(cls):
        if hasattr(args, f.name):
            value = getattr(args, f.name)
            values[f.name] = tuple(value) if field_kind(f)[1] else value
        elif prefix is not None:
            variable = env_name(f, prefix)
            text = os.environ.get(variable, "")
            if text:  # VAR= (empty) is unset, as a shell's `VAR= cmd` and the API key's own reading mean it
                values[f.name], variables[f.name] = env_value(f, variable, text), variable
            elif _required(f):
                raise ConfigError(f"the following arguments are required: {_shown_name(f)} (or set {variable})")
    try:
        return cls(**values)
    except ConfigError as exc:
        raise _renamed(exc, cls, variables) from None


# -- options from environment variables -------------------------------------------------------------------
# The options classes whose every field may come from PREFIX<NAME>: registered by the command that wants it
# (emodraw.cli.commands' @command(env_prefix=...)), so that no other command starts reading variables that
# happen to share the prefix (EMODRAW_CACHE is the adapted backbones' cache, not an option).
ENV_PREFIXES: dict[type, str] = {}
_TRUE, _FALSE = ("1", "true", "yes"), ("0", "false", "no")


def read_environment(cls, prefix: str) -> None:
    """Let every option of the dataclass `cls` also come from the environment variable PREFIX<NAME>."""
    ENV_PREFIXES[cls] = prefix


def env_description(prefix: str) -> str:
    """The sentence a command's --help description gets when its options read the environment."""
    return (
        f"Every option can also come from the environment as {prefix}<NAME>, the option's name in capitals with "
        f"_ for - ({prefix}PORT=8080, {prefix}ACCESS_LOG=1, {prefix}CORS_ORIGIN=A,B for a repeatable one, "
        f"{prefix}CHECKPOINT for the positional argument); a flag given wins over its variable."
    )


def env_name(f: dataclasses.Field, prefix: str) -> str:
    """PREFIX + the option's name as the user knows it: its flag's (--body-timeout: EMODRAW_BODY_TIMEOUT), or
    the field's for a positional argument (EMODRAW_CHECKPOINT)."""
    name = f.name if f.metadata.get("positional") else f.metadata.get("flag", flag(f.name)).lstrip("-")
    return prefix + name.replace("-", "_").upper()


def env_value(f: dataclasses.Field, variable: str, text: str) -> Any:
    """A variable's text as the field's type, or a one-line ConfigError naming the variable, as the flag's
    own error would name the flag. A repeatable option takes comma-separated values."""
    kind, many = field_kind(f)
    items = [item.strip() for item in text.split(",") if item.strip()] if many else [text]
    shown = "<hidden>" if f.metadata.get("secret") else None  # a key is never repeated in a message
    values = []
    for item in items:
        word = item.strip().lower()
        try:
            if kind is bool:
                if word not in _TRUE + _FALSE:
                    raise ValueError
                value = word in _TRUE
            else:
                value = kind(item.strip()) if kind in (int, float) else item
        except ValueError:
            why = f"must be one of {', '.join(_TRUE + _FALSE)}" if kind is bool else f"must be {KIND_WORDS[kind]}"
            raise ConfigError(f"{variable} {shown or repr(item)}: {why}") from None
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise ConfigError(f"{variable} {shown or repr(value)}: must be one of {', '.join(choices)}")
        values.append(value)
    return tuple(values) if many else values[0]


def _renamed(exc: ConfigError, cls, variables: dict[str, str]) -> ConfigError:
    """`exc` with the flag it starts with replaced by the variable, when that option came from one."""
    message = str(exc)
    for f in dataclasses.fields(cls):
        label = f.metadata.get("flag", flag(f.name))
        variable = variables.get(f.name)
        if variable and variable not in message and message.startswith((label + " ", label + ":")):
            return ConfigError(variable + message[len(label) :])
    return exc


def _shown_name(f: dataclasses.Field) -> str:
    if f.metadata.get("positional"):
        return f.metadata.get("metavar") or f.name
    return f.metadata.get("flag", flag(f.name))
