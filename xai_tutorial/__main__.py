"""``python -m xai_tutorial``: see :mod:`xai_tutorial.cli`."""

from .cli import main

raise SystemExit(main())
