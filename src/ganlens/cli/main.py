"""``ganlens`` entry point: discovers subcommands in this package and turns user errors into one line."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings

import ganlens.cli as cli_pkg
from ganlens import __version__
from ganlens.errors import GanlensError, GanlensWarning, one_line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ganlens",
        description="Open up the latent space of pretrained GANs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Run 'ganlens COMMAND --help' for the examples of each command.",
    )
    parser.add_argument("--version", action="version", version=f"ganlens {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name in ("main",) or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"ganlens.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    import torch

    previous = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, GanlensWarning):
            print(f"ganlens {args.command}: warning: {one_line(message)}", file=sys.stderr)
        else:
            previous(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        # Commands may switch autograd off for speed; restore the caller's mode afterwards so an
        # in-process call (tests, notebooks) never leaks global state.
        with torch.set_grad_enabled(torch.is_grad_enabled()):
            rc = args.func(args)
    except GanlensError as e:
        print(f"ganlens {args.command}: error: {one_line(e)}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(
            f"ganlens {args.command}: interrupted; finished outputs are kept and the run can be resumed",
            file=sys.stderr,
        )
        return 130
    finally:
        warnings.showwarning = previous
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
