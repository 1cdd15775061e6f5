"""``python -m practicaldl``: the command line; with no arguments it shows the help (exit 0)."""

from .cli import main

if __name__ == "__main__":
    main()
