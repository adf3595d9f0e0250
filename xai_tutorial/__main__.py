"""``python -m xai_tutorial``: see :mod:`xai_tutorial.cli`."""

from .cli import main

if __name__ == "__main__":  # importing this module (``"xai_tutorial.__main__:main"``) runs nothing
    raise SystemExit(main())
