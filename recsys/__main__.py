"""``python -m recsys`` runs the command line."""

from .cli import main

main()
