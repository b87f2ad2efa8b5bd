"""Argument helpers shared by subcommands (parsers for seeds, ranges, --class; the help formatter)."""

from __future__ import annotations

import argparse

from ganlens.errors import GanlensError

HELP_FORMATTER = argparse.RawDescriptionHelpFormatter


def add_command(
    sub, name: str, *, help: str, examples: str, description: str = ""
) -> argparse.ArgumentParser:
    """Add a subcommand whose --help ends with an 'examples:' block."""
    return sub.add_parser(
        name,
        help=help,
        description=description or help,
        epilog="examples:\n" + examples.strip("\n"),
        formatter_class=HELP_FORMATTER,
    )


def check_at_least(*limits: tuple[str, int, int]) -> None:
    """One-line error for the first ``(option, value, lowest)`` whose value is below its lowest."""
    for name, value, lowest in limits:
        if value < lowest:
            raise GanlensError(f"{name} {value} must be at least {lowest}")


def parse_int_list(
    text: str, *, what: str = "value", lo: int | None = None, hi: int | None = None
) -> list[int]:
    """Parse ``"0-3,7,9-10"`` into ``[0, 1, 2, 3, 7, 9, 10]`` (ranges inclusive), checking bounds."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part[1:]:
                a, b = (
                    part.split("-", 1)
                    if not part.startswith("-")
                    else ("-" + part[1:].split("-", 1)[0], part[1:].split("-", 1)[1])
                )
                a_i, b_i = int(a), int(b)
                if b_i < a_i:
                    raise ValueError
                out.extend(range(a_i, b_i + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise GanlensError(f"{what} {text!r} is not a list like '0-3,7'") from None
    if not out:
        raise GanlensError(f"{what} {text!r} is empty; give numbers or ranges like '0-3,7'")
    for v in out:
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise GanlensError(f"{what} {v} is out of range; allowed {lo} to {hi}")
    return out


def add_class_arg(p: argparse.ArgumentParser) -> None:
    """``--class K`` for conditional models (stylegan2-ada-pytorch ``c_dim > 0``)."""
    p.add_argument(
        "--class",
        dest="class_index",
        type=int,
        default=None,
        help="class of a conditional model (required for them, refused for the others)",
    )


def apply_class(G, index: int | None) -> None:
    """Make ``--class`` the class ``G.mapping`` uses; a one-line error when it does not fit ``G``."""
    c_dim = G.c_dim
    if index is None:
        if c_dim:
            raise GanlensError(f"this model is conditional ({c_dim} classes): pass --class 0 to {c_dim - 1}")
        return
    if not c_dim:
        raise GanlensError(f"--class {index}: this model is unconditional; --class is for conditional models")
    if not 0 <= index < c_dim:
        raise GanlensError(f"--class {index} is out of range; this model has classes 0 to {c_dim - 1}")
    G.default_class = index
