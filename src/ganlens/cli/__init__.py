"""The ``ganlens`` command line. Every module here with a ``register(subparsers)`` adds a subcommand."""

import os

# OpenMP threads that spin while waiting make torch 5-7x slower whenever another process holds a
# core (measured: mGANprior 26.9 s -> 3.6 s for the same work on a 2-core machine with one busy
# core). Set before torch is imported; an explicit user setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
