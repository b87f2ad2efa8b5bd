"""``ganlens models``: list the zoo."""

from __future__ import annotations

from ganlens.cli.common import add_command
from ganlens.zoo import list_models


def register(sub) -> None:
    p = add_command(
        sub,
        "models",
        help="list the models in the zoo and whether they are installed",
        examples="  ganlens models",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    rows = [("name", "arch", "res", "z", "w", "num_ws", "available", "description")]
    for m in list_models():
        avail = "yes" if m.available else f"no ({m.install or 'reinstall ganlens'})"
        rows.append(
            (
                m.name,
                m.arch,
                str(m.resolution),
                str(m.z_dim),
                str(m.w_dim or "-"),
                str(m.num_ws or "-"),
                avail,
                m.description,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1])
    return 0
