"""``python -m toolhive_compose`` is ``thv``."""

from .cli import main

main()
