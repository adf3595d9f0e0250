"""Write sample photos to assets/ (run after changing xai_tutorial.core.samples.SAMPLES).

Usage: ``python scripts/make_assets.py [NAME ...]`` (default: the two composites the lessons
read from ``assets/``, ``cat_and_coffee`` and ``cat_over_coffee``).
"""

import sys
from pathlib import Path

from xai_tutorial.core.samples import sample_image

ASSETS = Path(__file__).resolve().parents[1] / "assets"

for name in sys.argv[1:] or ("cat_and_coffee", "cat_over_coffee"):
    path = ASSETS / f"{name}.png"
    sample_image(name).save(path, optimize=True)
    print(f"wrote {path.relative_to(ASSETS.parent)}")
