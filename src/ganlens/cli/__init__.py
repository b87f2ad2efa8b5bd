"""The ``ganlens`` command line. Every module here with a ``register(subparsers)`` adds a subcommand."""
