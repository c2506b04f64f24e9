"""``python -m pipeline`` is the ``megawatch`` command."""

from pipeline.cli import main

if __name__ == "__main__":
    main()
