"""Moved to :mod:`xai_tutorial.core._files`: this old import path is that very module.

Importing ``xai_tutorial._files`` gives the core module itself (not a copy), so reading,
monkeypatching or isinstance checks through either name see the same objects.
"""

import sys

from .core import _files as _moved

sys.modules[__name__] = _moved
