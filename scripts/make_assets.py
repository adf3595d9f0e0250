"""Write the sample composites to assets/ (run after changing xai_tutorial.images.SAMPLES)."""

from pathlib import Path

from xai_tutorial.images import sample_image

ASSETS = Path(__file__).resolve().parents[1] / "assets"

for name in ("cat_and_coffee", "cat_over_coffee"):
    path = ASSETS / f"{name}.png"
    sample_image(name).save(path, optimize=True)
    print(f"wrote {path.relative_to(ASSETS.parent)}")
