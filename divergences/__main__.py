"""``python -m divergences`` runs the command-line tool."""

from divergences.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
