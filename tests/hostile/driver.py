"""Run hostile cases in one process under a memory limit, one deadline per case.

Reads a JSON list of cases on stdin; prints one JSON line per case on stdout as it finishes:
``{"id", "outcome", "exit", "error", "stderr", "seconds", "cpu_seconds",
"peak_rss_above_model"}``.

``outcome`` is ``"exit"`` (a CLI case returned an exit code), ``"ok"`` / ``"refused"`` (a ``load``
case returned an image / raised ImageLoadError), ``"timeout"`` (the case ran past its deadline; a
case may set ``"fsize"``, a file-size limit in bytes, and ``"env"``) or ``"bug"`` (anything else
escaped: what the CLI would print as a traceback).

Before any case runs, the bundled model is loaded once and the address-space limit is set to what
the process then uses plus ``HOSTILE_EXTRA_MB`` (so torch's large reservations still fit, but a
blow-up becomes a MemoryError instead of eating the machine). Each case's resident-set peak is
reset first (``/proc/self/clear_refs``) so its own peak above the model is reported.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import signal
import sys
import time
import traceback


class CaseTimeout(BaseException):
    pass


def _status(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _alarm(signum: int, frame: object) -> None:
    raise CaseTimeout()


def run_case(case: dict) -> dict:
    from xai_tutorial.cli import main
    from xai_tutorial.images import ImageLoadError, load_image

    out, err = io.StringIO(), io.StringIO()
    result: dict = {"id": case["id"]}
    for key, value in case.get("env", {}).items():
        os.environ[key] = value
    _reset_peak()
    baseline = _status("VmRSS")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.monotonic()
    fsize = resource.getrlimit(resource.RLIMIT_FSIZE)
    if "fsize" in case:  # a file-size limit for this case only (a write past it: EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (case["fsize"], fsize[1]))
    signal.setitimer(signal.ITIMER_REAL, case.get("timeout", 10.0))
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            if case["kind"] == "cli":
                try:
                    result["exit"] = main(case["argv"])
                except SystemExit as exc:  # argparse usage errors
                    result["exit"] = exc.code
                result["outcome"] = "exit"
            else:
                image = load_image(case["source"], **case.get("kwargs", {}))
                result["outcome"], result["size"] = "ok", list(image.size)
    except ImageLoadError as exc:
        result["outcome"], result["error"] = "refused", str(exc)
    except CaseTimeout:
        result["outcome"] = "timeout"
    except BaseException as exc:  # noqa: BLE001 (the point is to report anything that escapes)
        result["outcome"] = "bug"
        result["error"] = f"{type(exc).__name__}: {exc}"[:500]
        result["traceback"] = traceback.format_exc()[-2000:]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        resource.setrlimit(resource.RLIMIT_FSIZE, fsize)
    result["seconds"] = round(time.monotonic() - start, 2)
    after = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = round(
        after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime, 2
    )
    result["peak_rss_above_model"] = max(0, _status("VmHWM") - baseline)
    result["stdout"], result["stderr"] = out.getvalue()[-2000:], err.getvalue()[-2000:]
    return result


def main() -> None:
    cases = json.load(sys.stdin)
    signal.signal(signal.SIGALRM, _alarm)
    from xai_tutorial.classification import load_classifier

    load_classifier("efficientnet_lite0").predict("chelsea")  # the model's own baseline
    extra = int(os.environ.get("HOSTILE_EXTRA_MB", "2048")) * 1024 * 1024
    limit = _status("VmSize") + extra
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    print(json.dumps({"id": "__baseline__", "rss": _status("VmRSS"), "vmsize": _status("VmSize"),
                      "limit": limit}), flush=True)
    for case in cases:
        print(json.dumps(run_case(case)), flush=True)


if __name__ == "__main__":
    main()
