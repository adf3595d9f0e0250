"""Moved to :mod:`xai_tutorial.decision_trees.compat`: this old import path is that very module.

Importing ``xai_tutorial.nbdt_compat`` gives the package module itself (not a copy), so reading,
monkeypatching or isinstance checks through either name see the same objects.
"""

import sys

from .decision_trees import compat as _moved

sys.modules[__name__] = _moved
