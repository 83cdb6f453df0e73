"""The `eigen` command line: a thin map from subcommand names to config dataclasses and functions.

Flags, defaults and help come from the config dataclasses (`config.py`), so the CLI and the Python
API cannot drift apart. A user error ends with one sentence on stderr and exit code 2, never a
traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import shlex
import sys
from typing import Callable

from . import __version__
from .errors import EigenError, InternalError, Interrupted, NotPosix, describe_os_error

try:  # the commands need fcntl's folder locks and SIGHUP: where they are missing (Windows), one sentence
    from .config import (DuplicateConfig, EvalConfig, PredictConfig, ReportConfig, SearchConfig, ShowConfig,
                         TeacherConfig, switch_flags)
    from .stop_signals import how_stopped, stop_signals_as_interrupts
except NotPosix as e:
    print(e, file=sys.stderr)  # "eigen needs a POSIX system ...": the sentence names eigen itself
    raise SystemExit(2) from None


def _lazy(module: str, function: str) -> Callable[[object], int]:
    """The command's function, imported when it runs (so `eigen --help` never waits for torch)."""
    def run(config) -> int:
        return getattr(importlib.import_module(f".{module}", __package__), function)(config)
    return run


def _python_api(function: str) -> Callable[[object], int]:
    """The Python API's function (`eigen.search`, ...) given the parsed config: the CLI and a notebook
    run the same code, and the CLI's exit code is 0 when it returns."""
    def run(config) -> int:
        getattr(importlib.import_module(".api.functions", __package__), function)(config=config)
        return 0
    return run


# name -> (config class, function, one-line description)
COMMANDS: dict[str, tuple[type, Callable[[object], int], str]] = {
    "search": (SearchConfig, _python_api("search"),
               "search an architecture with EIGEN (or large-scale, random, regularized) -> runs/<name>/"),
    "train-teacher": (TeacherConfig, _python_api("train_teacher"),
                      "train the DenseNet-BC teacher ensemble used for mimicry -> teachers/<dataset>/"),
    "duplicate": (DuplicateConfig, _python_api("duplicate"),
                  "duplicate blocks of the best genome and train the final model -> runs/<name>/final/"),
    "report": (ReportConfig, _lazy("commands.report", "report_command"),
               "redraw the plots and the HTML page of a run folder"),
    "show": (ShowConfig, _lazy("commands.show", "show_command"),
             "a genome's layers, blocks and cost as a table or JSON, or drawn (.svg, .png, .pdf, .dot)"),
    "eval": (EvalConfig, _lazy("commands.eval", "eval_command"),
             "test accuracy (top-1, top-5, per class, confusion matrix) of a final model, genome + weights or export"),
    "predict": (PredictConfig, _lazy("commands.predict", "predict_command"),
                "the top-k classes of images, from a final folder or an export (model.pt2, model.onnx)"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one sentence (no usage dump), like every other user error, and a
    flag is its whole name: an abbreviation (`--max-gen`) that works today would turn ambiguous, or
    mean another flag, the day a flag is added, and a config file's keys take no abbreviations either."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)  # the subcommands' parsers are made by this class too
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless its help already says what the default is."""

    def _get_help_string(self, action):
        if "(default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class _Switch(argparse.Action):
    """A switch and its off form (`--elitist`, `--no-elitist`; `--no-mimicry`, `--mimicry`), so that a
    config file's true can be turned off on the command line; the last one given wins."""

    def __init__(self, option_strings, dest, off: str, default=False, help=None):
        super().__init__([*option_strings, off], dest, nargs=0, default=default, help=help)
        self.off = off

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, option_string != self.off)

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


def _add_config_arguments(parser: argparse.ArgumentParser, config_class: type) -> None:
    for f in dataclasses.fields(config_class):
        meta = f.metadata
        if meta.get("positional"):
            parser.add_argument(f.name, nargs=meta.get("nargs") or (None if f.default is None else "?"),
                                default=f.default, help=meta["help"])
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type in (bool, "bool"):
            on, off = switch_flags(f.name)
            parser.add_argument(on, action=_Switch, off=off, dest=f.name, default=f.default, help=meta["help"])
            continue
        kwargs = {"default": f.default, "help": meta["help"], "metavar": meta["metavar"] or "VALUE"}
        if meta.get("const") is not None:
            kwargs.update(nargs="?", const=meta["const"])
        if meta.get("type") is not None:
            kwargs["type"] = meta["type"]
        if meta.get("choices"):
            kwargs["choices"] = meta["choices"]
            del kwargs["metavar"]
        parser.add_argument(flag, **kwargs)


def make_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eigen", description="Search image-classifier architectures from scratch on one GPU "
                                  "(EIGEN and Large-Scale Evolution).")
    parser.add_argument("--version", action="version", version=f"eigen {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (config_class, _, description) in COMMANDS.items():
        p = sub.add_parser(name, help=description, description=description[0].upper() + description[1:] + ".",
                           formatter_class=_HelpFormatter)
        _add_config_arguments(p, config_class)
        _add_file_arguments(p)
    parser.commands = sub.choices  # name -> its parser, whose defaults a --config file replaces
    return parser


def _add_file_arguments(parser: argparse.ArgumentParser) -> None:
    """--config and --print-config: on every command, and never saved in a run's settings."""
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="read settings from a TOML, YAML or JSON file whose keys are the flags (a run's "
                             "config.json reproduces it); flags given here win over the file")
    parser.add_argument("--print-config", action="store_true",
                        help="print the resolved settings as TOML (a file --config reads) and exit")


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    with stop_signals_as_interrupts():  # SIGTERM and SIGHUP (a scheduler, a closed terminal) as Ctrl-C
        return _run(parser, args, sys.argv[1:] if argv is None else argv)


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> int:
    """The command, with every way it can end as an exit code and at most one sentence."""
    config_class, run, _ = COMMANDS[args.command]
    try:
        if args.config:  # the file's settings become the defaults, so the command line still wins
            from .configfile import settings_from_file
            parser.commands[args.command].set_defaults(**settings_from_file(config_class, args.config, args.command))
            args = parser.parse_args(argv)
        config = config_class(**{f.name: getattr(args, f.name) for f in dataclasses.fields(config_class)})
        if args.print_config:
            from .configfile import to_toml
            print(to_toml(config, args.command), end="")
            return 0
        if getattr(config, "deterministic", False):
            from .device import use_deterministic
            use_deterministic()
        return run(config) or 0
    except EigenError as e:
        print(f"eigen {args.command}: {e}", file=sys.stderr)
        return 2
    except InternalError as e:  # eigen's own bug: say so, rather than send the user to check the disk
        print(f"eigen {args.command}: {e}", file=sys.stderr)
        return 70  # EX_SOFTWARE
    except BrokenPipeError:  # the reader went away (`eigen predict ... | head`): stop quietly, as Unix tools do
        _silence_stdout()
        return 141  # 128 + SIGPIPE, what a shell reports for a tool the closed pipe stopped
    except OSError as e:  # a full disk, a read-only folder: the user's to fix, said in one sentence
        print(f"eigen {args.command}: {describe_os_error(e, args.command)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C, SIGTERM or SIGHUP: say what stopped it and how to go on
        what, code = how_stopped()
        if isinstance(e, Interrupted):
            what += f"; {e.how}"
        elif args.command in ("duplicate", "train-teacher"):  # the same command continues where it stopped
            what += f"; continue with `{shlex.join(['eigen', *argv])}`"
        print(f"eigen {args.command}: {what}", file=sys.stderr)
        return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's flush at exit does not hit the closed pipe again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    sys.exit(main())
