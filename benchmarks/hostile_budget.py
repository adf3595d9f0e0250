"""The work budget for what ``load_image`` accepts: peak memory above the model, and time.

    .venv/bin/python benchmarks/hostile_budget.py [--quick]

Runs ``classify`` and ``cam`` (the CLI's own code, in one process after the bundled model is
loaded, under the test corpus's memory limit) on the worst shapes the image bounds accept: the
aspect cap (16 to 1, both ways), the pixel cap at a photo's shape and at the aspect cap, and a
single pixel. Goal (issue 9): every accepted image within 1 GB of resident memory above the loaded
model, and within 10 s on 2 cores. Prints, per case, the peak above the model, wall and CPU
seconds (CPU / 2 is the wall time on two free cores), and the ratios to the goals.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from xai_tutorial.images import MAX_ASPECT, MAX_PIXELS

DRIVER = Path(__file__).resolve().parents[1] / "tests" / "hostile" / "driver.py"
GOAL_BYTES = 1 << 30
GOAL_SECONDS = 10.0


def picture(width: int, height: int) -> Image.Image:
    """A smooth photo-like picture (a JPEG of noise would be unrealistically large)."""
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    red = np.broadcast_to(x, (height, width))
    green = np.broadcast_to(y, (height, width))
    return Image.fromarray(np.stack([red, green, 255 - red], -1).astype(np.uint8))


def shapes(quick: bool) -> dict[str, tuple[int, int]]:
    aspect = int(MAX_ASPECT)
    side = int((MAX_PIXELS / 1.5) ** 0.5)
    short_side = int((MAX_PIXELS / MAX_ASPECT) ** 0.5)
    found = {
        "aspect cap, wide": (256 * aspect, 256),
        "aspect cap, tall": (256, 256 * aspect),
        "one pixel": (1, 1),
    }
    if not quick:
        found["pixel cap, 3:2 photo"] = (int(side * 1.5), side)
        found["pixel cap at the aspect cap"] = (short_side * aspect, short_side)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the pixel-cap shapes")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="hostile-budget-"))
    cases = []
    for label, (width, height) in shapes(args.quick).items():
        path = folder / f"{width}x{height}.jpg"
        picture(width, height).save(path, quality=90)
        for command in ("classify", "cam"):
            argv = [command, str(path), "--model", "efficientnet_lite0"]
            if command == "cam":
                argv += ["--out", str(folder / f"out-{width}x{height}")]
            cases.append({"id": f"{command} {label} {width}x{height}", "kind": "cli",
                          "argv": argv, "timeout": 300})
    done = subprocess.run([sys.executable, str(DRIVER)], input=json.dumps(cases),
                          capture_output=True, text=True, timeout=3600)
    print(f"{'case':<48} {'peak above model':>17} {'wall s':>7} {'cpu s':>7} "
          f"{'mem/goal':>8} {'cpu/2/goal':>10}")
    for line in done.stdout.splitlines():
        record = json.loads(line)
        if record["id"] == "__baseline__":
            print(f"model loaded: {record['rss'] / 2**20:,.0f} MB resident, address-space limit "
                  f"{record['limit'] / 2**30:.1f} GB")
            continue
        peak = record["peak_rss_above_model"]
        status = "" if record.get("exit") == 0 else f"  [{record['outcome']}: " \
            f"{record.get('error') or record['stderr'].strip()[:80]}]"
        print(f"{record['id']:<48} {peak / 2**20:>14,.0f} MB {record['seconds']:>7.1f} "
              f"{record['cpu_seconds']:>7.1f} {peak / GOAL_BYTES:>8.2f} "
              f"{record['cpu_seconds'] / 2 / GOAL_SECONDS:>10.2f}{status}")
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)


if __name__ == "__main__":
    main()
