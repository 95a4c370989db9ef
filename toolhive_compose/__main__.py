"""``python -m toolhive_compose`` is ``thv``."""

from .entry import main

main()
