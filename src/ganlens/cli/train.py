"""``ganlens train KIND``: training commands. Each ``ganlens/cli/train_*.py`` module with a
``register_train(subparsers)`` function adds one KIND (stylegan2, encoder, classifier, ...)."""

from __future__ import annotations

import importlib
import pkgutil

import ganlens.cli as cli_pkg
from ganlens.cli.common import HELP_FORMATTER


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train models (stylegan2, encoder, classifier, ...)",
        description="Train a model. Run 'ganlens train KIND --help' for each kind's options and examples.",
        formatter_class=HELP_FORMATTER,
    )
    kinds = p.add_subparsers(dest="train_kind", metavar="KIND")
    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("train_"):
            module = importlib.import_module(f"ganlens.cli.{info.name}")
            if hasattr(module, "register_train"):
                module.register_train(kinds)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
