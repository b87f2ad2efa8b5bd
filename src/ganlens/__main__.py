"""``python -m ganlens``: the ``ganlens`` command, for an interpreter whose scripts folder is not on PATH."""

from ganlens.cli.main import main

if __name__ == "__main__":
    main()
