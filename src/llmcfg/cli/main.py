"""``llmcfg``: the command line. Thin: parse, call the library, print.

Commands live by group: ``config_commands`` (validate, plan, models, schema), ``call_commands``
(chat, vision, imagine), ``ocr_command`` (ocr), ``log_commands`` (costs, log, cache) and
``export_command`` (export); each
registers its sub-commands here. Any ``LLMCfgError`` (or a wrong command line) becomes one line on
stderr and exit code 2, never a traceback. Commands that do not call a model (validate, plan,
models, schema, costs, log, cache) never import litellm.

Every command that reads a config takes ``--config FILE`` (also before the command); validate and
plan take the file as a positional argument too. Default: $LLMCFG_CONFIG, else ./llm_config.yaml.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, Protocol

from llmcfg.cli import call_commands, config_commands, export_command, log_commands, ocr_command
from llmcfg.cli.output import UsageError, stderr_console
from llmcfg.config.location import default_config_path
from llmcfg.exceptions import LLMCfgError

__all__ = ["Register", "main"]

EXIT_OK = 0
EXIT_ERROR = 2
# stdout's reader went away: the code rich's tables exit with then, and Python's documented recipe.
EXIT_BROKEN_PIPE = 1
FILE_HELP = "config file (default: $LLMCFG_CONFIG, else ./llm_config.yaml)"

# The commands that call models, and so emit events to the console.
_CALL_COMMANDS = frozenset({"chat", "vision", "imagine", "ocr"})
# Warning events that the command also raises, and so prints as its one error line.
_PRINTED_AS_ERRORS = frozenset({"image.fetch_refused"})

Handler = Callable[[argparse.Namespace], int]


class Register(Protocol):
    """How a command module adds a sub-command: name, handler, one-line help."""

    def __call__(
        self, name: str, handler: Handler, help_text: str, *, config: bool = True
    ) -> argparse.ArgumentParser: ...


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llmcfg")
    except PackageNotFoundError:  # running from a source tree that was never installed
        from llmcfg import __version__

        return __version__


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmcfg", description="One YAML file to a production LLM setup.")
    parser.add_argument("--version", action="version", version=f"llmcfg {_version()}")
    parser.add_argument("--config", metavar="FILE", help=FILE_HELP)
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print each call's llm.call event on stderr"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Handler, help_text: str, *, config: bool = True
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        if config:
            # SUPPRESS: a --config given before the command is not reset by the sub-parser's default.
            sub.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=FILE_HELP)
        sub.add_argument(
            "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        return sub

    for module in (config_commands, call_commands, ocr_command, log_commands, export_command):
        module.register(command)
    return parser


def _config_path(args: Any) -> str:
    """The config file: the positional FILE (validate, plan) or --config, else the default."""
    positional, option = getattr(args, "file", None), getattr(args, "config", None)
    if positional is not None and option is not None and positional != option:
        raise UsageError(f"two config files given ({positional} and --config {option}): pass one")
    return positional or option or default_config_path()


def _configure_logging(verbose: bool) -> None:
    """The CLI is an application: its answers go to stdout, and llm.call events (with -v) to the
    one stderr console, so they print above a progress bar instead of onto it. Without -v only
    warnings are shown: the cost line of each command already says what a call cost."""
    import logging

    import structlog

    console = stderr_console()

    class _ConsoleLogger:
        def msg(self, message: str) -> None:
            console.print(message, markup=False, highlight=False)

        log = debug = info = warn = warning = error = critical = exception = fatal = msg

    def drop_raised(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        # A refused image is raised as well and printed as the command's error line: once is enough.
        if not verbose and event.get("event") in _PRINTED_AS_ERRORS:
            raise structlog.DropEvent
        return event

    structlog.configure(
        processors=[
            drop_raised,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S"),
            structlog.dev.ConsoleRenderer(colors=console.is_terminal),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO if verbose else logging.WARNING),
        logger_factory=lambda *_: _ConsoleLogger(),
        cache_logger_on_first_use=False,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. A reader of stdout that goes away early (``llmcfg schema | head``) is normal
    in a shell, not an error: stop quietly with exit code 1 (as rich does for a table), never a traceback."""
    try:
        code = _run(argv)
        sys.stdout.flush()  # output still in the buffer meets a closed pipe here, not at exit
    except BrokenPipeError:
        import os

        # Python flushes stdout again at exit: point it at nothing so that flush cannot fail too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    return code


def _run(argv: Sequence[str] | None) -> int:
    args: Any = _parser().parse_args(argv)
    if args.command in _CALL_COMMANDS:  # the others emit no llm.call event (and skip importing structlog)
        _configure_logging(bool(getattr(args, "verbose", False)))
    try:
        args.config = _config_path(args)
        code: int = args.handler(args)
    except (LLMCfgError, UsageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
