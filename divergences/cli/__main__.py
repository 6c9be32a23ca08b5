"""``python -m divergences.cli`` runs the command-line tool, as ``python -m divergences`` does."""

from divergences.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
