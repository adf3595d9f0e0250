"""Moved to :mod:`xai_tutorial.core.errors`: this old import path is that very module.

Importing ``xai_tutorial.errors`` gives the core module itself (not a copy), so reading,
monkeypatching or isinstance checks through either name see the same objects.
"""

import sys

from .core import errors as _moved

sys.modules[__name__] = _moved
