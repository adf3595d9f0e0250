"""Moved to :mod:`xai_tutorial.core.images`: this old import path is that very module.

Importing ``xai_tutorial.images`` gives the core module itself (not a copy), so reading,
monkeypatching or isinstance checks through either name see the same objects.
"""

import sys

from .core import images as _moved

sys.modules[__name__] = _moved
