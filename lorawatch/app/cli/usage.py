"""The command line's own words (help screens, usage errors) in the operator's language.

Typer, and the click it carries, write their help screens and usage errors in English with no
translation hook: the panel titles, "Usage:", "Missing option", "Invalid value for"... A French
operator would read two languages on one screen. So, before the command line parses anything:

- every command's and option's help is the catalogue's ``help.<command path>[.<option>]``
  (``help.lorawatch`` for the root, ``help.option.<name>`` for the options every command has),
  and typer's help-screen words are set from ``cli.usage.*``;
- each command's context formats its usage line with the translated prefix, and its help
  option says what it does in the same language;
- a usage error is caught and told again from its parts (which option or argument, the value,
  what is wrong with it: pydantic's error type for a value typer validated), never shown in
  English. Its exit code stays 2, the usage-error code of docs/cli.md.

The language is the one of :mod:`.say`, with ``--lang`` read from the arguments first (the
configuration file is not read before the arguments are parsed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import typer
import typer.main
from rich.console import Console
from rich.markup import escape

# typer ships its own click (typer._click): the context, formatter and usage errors are there.
from typer._click.core import Command, Context
from typer._click.exceptions import (
    BadParameter,
    MissingParameter,
    NoArgsIsHelpError,
    NoSuchOption,
    UsageError,
)
from typer._click.formatting import HelpFormatter

from lorawatch.app.cli import say
from lorawatch.core import catalogue

SHARED_OPTIONS = frozenset({"help", "install_completion", "show_completion"})
"""Options typer gives every command (or the root): one help text each, not one per command."""

EXIT_USAGE = 2


def argv_language(args: Sequence[str]) -> str | None:
    """``--lang xx`` or ``--lang=xx`` among the arguments before the first command."""
    for i, arg in enumerate(args):
        if arg == "--lang" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
        if not arg.startswith("-"):
            return None
    return None


def _help(key: str) -> str | None:
    lang = say.language()
    return catalogue.text(lang, key) if catalogue.has(lang, key) else None


class _Formatter(HelpFormatter):
    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, f"{say.t('usage.usage')} " if prefix is None else prefix)


class _Context(Context):
    """A context whose usage line and help option speak the operator's language."""

    formatter_class = _Formatter

    def __init__(self, command: Command, *args: Any, **kwargs: Any) -> None:
        super().__init__(command, *args, **kwargs)
        option = command.get_help_option(self)
        text = _help("help.option.help")
        if option is not None and text is not None:
            option.help = text

    def get_help(self) -> str:
        _help_screen_words()
        return super().get_help()


def help_keys(command: Command, path: tuple[str, ...] = ()) -> dict[str, Command | Any]:
    """Every help id of the tree under ``command`` with what carries it (command or option)."""
    name = ".".join(path) or "lorawatch"
    out: dict[str, Any] = {f"help.{name}": command}
    for param in command.params:
        shared = param.name in SHARED_OPTIONS
        out[f"help.option.{param.name}" if shared else f"help.{name}.{param.name}"] = param
    for sub_name, sub in getattr(command, "commands", {}).items():
        out.update(help_keys(sub, (*path, sub_name)))
    return out


def localised(app: typer.Typer) -> Command:
    """``app``'s command tree with its help and usage words in the current language."""
    command = typer.main.get_command(app)
    for key, carrier in help_keys(command).items():
        text = _help(key)
        if text is None:
            continue
        carrier.help = text
        if isinstance(carrier, Command):
            carrier.short_help = None
    for each in _walk(command):
        each.context_class = _Context
        if getattr(each, "commands", None):
            each.subcommand_metavar = say.t("usage.subcommand_metavar")  # type: ignore[attr-defined]
    return command


def _help_screen_words() -> None:
    """Typer's help-screen words in the operator's language, set just before a help screen.

    Typer loads its rich help renderer only to draw a help screen, and so does this.
    """
    # Local: rich's markdown, markdown-it and pygments come with it (~2.5 MB resident), which
    # ``lorawatch run`` never needs.
    import typer.rich_utils as ru

    ru.ARGUMENTS_PANEL_TITLE = say.t("usage.panel_arguments")
    ru.OPTIONS_PANEL_TITLE = say.t("usage.panel_options")
    ru.COMMANDS_PANEL_TITLE = say.t("usage.panel_commands")
    ru.ERRORS_PANEL_TITLE = say.t("error")
    ru.DEFAULT_STRING = f"[{say.t('usage.default', value='{}')}]"
    ru.ENVVAR_STRING = f"[{say.t('usage.envvar', name='{}')}]"
    ru.REQUIRED_LONG_STRING = f"[{say.t('usage.required')}]"
    ru.DEPRECATED_STRING = f"({say.t('usage.deprecated')}) "
    ru.ABORTED_TEXT = say.t("usage.aborted")


def _walk(command: Command) -> list[Command]:
    out = [command]
    for sub in getattr(command, "commands", {}).values():
        out += _walk(sub)
    return out


def run(app: typer.Typer, err: Console, args: Sequence[str]) -> int:
    """Parse ``args`` and run the command; the exit code (usage errors told in the operator's
    language, exit 2)."""
    say.choose(argv_language(args) or os.environ.get(say.ENV_LANG))
    command = localised(app)
    try:
        result = command.main(args=list(args), prog_name="lorawatch", standalone_mode=False)
    except NoArgsIsHelpError:
        return EXIT_USAGE  # the help was shown
    except UsageError as exc:
        tell(err, exc)
        return exc.exit_code
    except typer.Abort:
        err.print(f"[red]{escape(say.t('usage.aborted'))}[/red]", highlight=False)
        return 1
    # Not standalone: an Exit comes back as its code, a command that returned as None.
    return result if isinstance(result, int) else 0


def tell(err: Console, exc: UsageError) -> None:
    """A usage error: the usage line, where to find help, and what is wrong."""
    ctx = exc.ctx
    if ctx is not None:
        err.print(escape(ctx.get_usage()), highlight=False)
        if ctx.command.get_help_option(ctx) is not None:
            hint = say.t(
                "usage.try_help", command=ctx.command_path, option=ctx.help_option_names[0]
            )
            err.print(escape(hint), style="dim", highlight=False)
    err.print(f"[red]{say.t('error')}:[/red] {escape(message(exc))}", highlight=False)


def _hint(exc: BadParameter) -> str | None:
    if exc.param_hint is not None:
        hint: Any = exc.param_hint
    elif exc.param is not None:
        hint = exc.param.get_error_hint()
    else:
        return None
    return hint if isinstance(hint, str) else " / ".join(repr(h) for h in hint)


def message(exc: UsageError) -> str:
    """What is wrong, in the current language, from the error's parts."""
    if isinstance(exc, NoSuchOption):
        text = say.t("usage.no_such_option", option=exc.option_name)
        if exc.possibilities:
            text += " " + say.t(
                "usage.possible_options", options=", ".join(sorted(exc.possibilities))
            )
        return text
    if isinstance(exc, MissingParameter):
        kind = exc.param_type or (exc.param.param_type_name if exc.param else "parameter")
        if kind not in ("argument", "option"):
            kind = "parameter"
        return say.t(f"usage.missing_{kind}", name=_hint(exc) or "")
    if isinstance(exc, BadParameter):
        why = _value_problem(exc)
        hint = _hint(exc)
        if hint is None:
            return say.t("usage.bad_value", why=why)
        return say.t("usage.bad_value_for", name=hint, why=why)
    return _phrase(exc.message)


_PHRASES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"Option '(?P<option>.+)' requires an argument\."), "requires_argument"),
    (re.compile(r"Option '(?P<option>.+)' requires (?P<n>\d+) arguments\."), "requires_arguments"),
    (re.compile(r"Option '(?P<option>.+)' does not take a value\."), "takes_no_value"),
    (re.compile(r"Got unexpected extra argument\(s\) \((?P<args>.*)\)"), "extra_arguments"),
    (re.compile(r"No such command '(?P<name>.+)'\."), "no_such_command"),
    (re.compile(r"Missing command\."), "missing_command"),
    (re.compile(r"Argument '(?P<name>.+)' takes (?P<n>\d+) values\."), "argument_values"),
    (re.compile(r"(?P<value>'.*') is not one of (?P<choices>.*)\."), "not_one_of"),
    (re.compile(r"(?P<value>'.*') does not match the formats (?P<formats>.*)\."), "not_a_date"),
    (
        re.compile(r"(?P<kind>file|dir|path) (?P<path>'.*') (?P<what>does not exist)\."),
        "path_missing",
    ),
    (re.compile(r"(?P<kind>file|dir|path) (?P<path>'.*') is a file\."), "path_is_file"),
    (re.compile(r"(?P<kind>file|dir|path) (?P<path>'.*') is a directory\."), "path_is_dir"),
    (re.compile(r"(?P<kind>file|dir|path) (?P<path>'.*') is not readable\."), "path_unreadable"),
    (re.compile(r"(?P<kind>file|dir|path) (?P<path>'.*') is not writable\."), "path_unwritable"),
]
"""typer's own English sentences, each to its catalogue id (``cli.usage.<id>``)."""


def _phrase(text: str) -> str:
    for pattern, key in _PHRASES:
        found = pattern.fullmatch(text.strip())
        if found:
            values = found.groupdict()
            if "kind" in values:
                values["kind"] = say.t(f"usage.kind_{values['kind']}")
            values.pop("what", None)
            return say.t(f"usage.{key}", **values)
    return text  # our own callbacks' messages are already in the catalogue's language


_PYDANTIC = {
    "int_parsing": "not_an_integer",
    "int_from_float": "not_an_integer",
    "float_parsing": "not_a_number",
    "bool_parsing": "not_a_boolean",
    "uuid_parsing": "not_a_uuid",
    "datetime_parsing": "not_a_date",
    "date_parsing": "not_a_date",
    "less_than_equal": "at_most",
    "less_than": "below",
    "greater_than_equal": "at_least",
    "greater_than": "above",
}
"""pydantic's error types (how typer validates values) to ``cli.usage.<id>``."""


def _value_problem(exc: BadParameter) -> str:
    cause = exc.__cause__
    errors = getattr(cause, "errors", None)
    if callable(errors):
        found = errors()
        if found:
            first = found[0]
            value = repr(first.get("input"))
            limits = first.get("ctx") or {}
            key = _PYDANTIC.get(str(first.get("type")))
            if key is not None:
                limit = next((limits[k] for k in ("le", "lt", "ge", "gt") if k in limits), "")
                return say.t(f"usage.{key}", value=value, limit=limit, formats="")
            error = limits.get("error")
            if error is not None:
                return _phrase(str(error))
            return say.t("usage.refused", value=value, code=str(first.get("type")))
    return _phrase(exc.message)
