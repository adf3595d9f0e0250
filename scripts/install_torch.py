"""Install the CPU-only PyTorch wheels on Linux when PyTorch's CPU wheel index can be reached.

On Linux, PyPI's default ``torch`` wheel is the CUDA build: a learner on a laptop downloads
gigabytes of GPU libraries for a tutorial that runs on the CPU. ``make setup`` therefore runs this
script before installing the package: when the CPU-only index answers within a few seconds, torch
and torchvision come from it (``torch==X+cpu``: no ``nvidia-*`` packages); otherwise the script
says so in one line, and the package install that follows takes the default wheels from PyPI.
Elsewhere (macOS, Windows) PyPI's wheels are already CPU-only, and the script does nothing.

Usage: ``python scripts/install_torch.py [--index URL] [--timeout SECONDS] [--dry-run]``
(run it with the virtual environment's Python: it installs with ``sys.executable -m pip``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import urllib.request

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PACKAGES = ("torch", "torchvision")


def reachable(index: str, timeout: float) -> bool:
    """Whether ``index`` answers within ``timeout`` seconds, DNS lookup included.

    ``urlopen``'s own timeout does not bound the name lookup, which can hang without a network,
    so the request runs in a daemon thread and is abandoned when the time is up.
    """
    answered = threading.Event()

    def probe() -> None:
        try:
            with urllib.request.urlopen(f"{index.rstrip('/')}/torch/", timeout=timeout) as reply:
                if reply.status == 200:
                    answered.set()
        except Exception:  # any failure means: not usable now
            pass

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return answered.is_set()


def install_command(index: str) -> list[str]:
    """The pip command that installs torch and torchvision from ``index`` only.

    No version is pinned: pip's constraints (if any) and the package's own requirements still
    apply, and a ``+cpu`` local version satisfies them (PEP 440 ignores the local label).
    """
    return [sys.executable, "-m", "pip", "install", "--quiet", "--index-url", index, *PACKAGES]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", default=CPU_INDEX, help="the CPU-only wheel index (%(default)s)")
    parser.add_argument("--timeout", type=float, default=4.0,
                        help="seconds to wait for the index (default %(default)s)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the pip command instead of running it")
    parser.add_argument("--platform", default=sys.platform, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be positive, not {args.timeout}")
    if not args.platform.startswith("linux"):
        return 0  # PyPI's torch is CPU-only here already
    if not reachable(args.index, args.timeout):
        print(f"PyTorch's CPU-only wheel index ({args.index}) is unreachable: installing the "
              "default torch wheels from PyPI instead (on Linux, the CUDA build: several GB).")
        return 0
    command = install_command(args.index)
    if args.dry_run:
        print(" ".join(command))
        return 0
    print(f"Installing CPU-only torch and torchvision from {args.index}")
    if subprocess.run(command).returncode != 0:
        print(f"Installing from {args.index} failed: installing the default torch wheels from "
              "PyPI instead (on Linux, the CUDA build: several GB).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
