"""The box a student's kernel runs in: started as ``python -I box.py SPEC.json -- COMMAND...``.

Standard library only, and run as a script (``-I``: no user site, no ``PYTHONPATH``, no
import of :mod:`xai_tutorial`), so nothing a submission could have changed is loaded here. It
reads the grader's ``SPEC.json``, builds the box, then ``execve``\\ s ``COMMAND`` (the kernel)
inside it. The box, on Linux:

* **namespaces**: new mount, PID, IPC and UTS namespaces, and a network namespace holding only a
  loopback device (the kernel talks to the grader through Unix sockets in its own folder), so
  no request leaves the machine. As root directly; as another user inside a user namespace of
  their own (``mode: "userns"``), when the system allows one.
* **files**: every mount read-only; a private, empty ``/tmp``, ``/var/tmp`` and ``/dev/shm``;
  the grader's other folders (the submissions, the output folder, the grader's staging folder
  with the other boxes, the teacher notebooks, the grader's home) hidden under empty tmpfs; a
  hidden file under ``/dev/null``; only the box's own folder writable. Paths the kernel needs
  under a hidden folder (the Python installation) are bound back in, read-only.
* **who**: as root, the kernel runs as an unprivileged user of its own (``uid``), so it cannot
  remount, unmount, signal or read anything of another box; as a user, a nested user namespace
  takes away its capabilities over these mounts. ``no_new_privs`` either way.
* **limits** (``setrlimit``): address space, processes, file size, CPU seconds, open files, no
  core files.
* **cleanup**: the first process of the PID namespace (this script, after one fork) only reaps
  and waits for the kernel; when it ends, or when the grader kills the launcher (it dies with
  it: ``PR_SET_PDEATHSIG``), the operating system kills every process left in the box.

Exit status: the kernel's (``128 + signal`` when a signal ended it); 97 when the box could not
be built (the reason on stderr: the grader reports it, never the student).
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import resource
import signal
import socket
import struct
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 1024, 2048, 1 << 21
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
SETUP_FAILED = 97

_libc = ctypes.CDLL(None, use_errno=True)


class BoxError(RuntimeError):
    """The box could not be built (the grader's problem, not the submission's)."""


def _call(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise BoxError(f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _call(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int,
          data: str | None = None) -> None:
    def b(s: str | None) -> bytes | None:
        return None if s is None else os.fsencode(s)
    _call(_libc.mount(b(source), b(target), b(fstype), ctypes.c_ulong(flags), b(data)),
          f"mount {target}")


def umount(target: str) -> None:
    """Detach the filesystem mounted at ``target`` (``MNT_DETACH``: at once, even if busy)."""
    _call(_libc.umount2(os.fsencode(target), ctypes.c_int(2)), f"umount {target}")


def _prctl(option: int, value: int) -> None:
    _call(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), f"prctl {option}")


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _map_user(uid: int, gid: int) -> None:
    """Inside a new user namespace: this process is ``uid``/``gid`` again (identity map)."""
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _mounts() -> list[tuple[str, set[str]]]:
    """This namespace's mount points, longest path last, with their per-mount options."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            found.append((point, set(fields[5].split(","))))
    return sorted(found, key=lambda item: len(item[0]))


_LOCKED = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
           "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}


def _remount(point: str, options: set[str], *, read_only: bool) -> None:
    """Remount ``point`` read-only (or writable) in this namespace, keeping the options a user
    namespace must keep."""
    flags = MS_REMOUNT | MS_BIND | (MS_RDONLY if read_only else 0)
    for name, bit in _LOCKED.items():
        if name in options:
            flags |= bit
    mount(None, point, None, flags)


def _options(point: str) -> set[str]:
    return next((options for path, options in reversed(_mounts()) if path == point), set())


def closed_above(path: str) -> list[str]:
    """The highest folder above ``path`` that other users cannot pass through (a private
    ``TMPDIR``, mode 0700), if any: as root the kernel is another user, so in the box that
    folder is covered by an empty tmpfs and ``path`` rebuilt in it."""
    parts = os.path.abspath(path).split(os.sep)
    for end in range(2, len(parts)):
        folder = os.sep.join(parts[:end])
        if not os.stat(folder).st_mode & 0o001:
            return [folder]
    return []


def build_files(spec: dict) -> list[str]:
    """Read-only mounts, private temporary folders, hidden folders, the box's own folder bound
    back writable and the exposed paths read-only; returns what could not be done."""
    skipped = []
    box = spec["box"]
    keep = {p: os.open(p, os.O_RDONLY | os.O_DIRECTORY)
            for p in [box, *spec.get("expose", [])] if os.path.isdir(p)}
    closed = closed_above(box) if spec["mode"] == "root" else []
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    for point, options in _mounts():
        if point == "/proc" or point.startswith(("/proc/", "/sys", "/dev")):
            continue
        try:
            _remount(point, options, read_only=True)
        except BoxError:
            skipped.append(point)
    # Hidden first, on the tree as it is: a folder bound back below (the package, the Python
    # installation, under /tmp or a hidden home) brings its hidden parts along still hidden.
    for path in spec.get("hide_dirs", []):
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for path in spec.get("hide_files", []):
        if os.path.isfile(path):
            mount("/dev/null", path, None, MS_BIND)
    for path in spec.get("tmpfs", []):
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=256m,mode=1777")
    for path in closed:
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=0755")
    for path, fd in sorted(keep.items(), key=lambda item: len(item[0])):
        os.makedirs(path, exist_ok=True)
        mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)
        _remount(path, _options(path), read_only=path != box)
        os.close(fd)
    try:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except BoxError:
        skipped.append("/proc (the machine's process list stays visible)")
    return skipped


def loopback_up() -> None:
    """Bring up ``lo`` in the new network namespace (the only device in it)."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), siocgifflags, request))[1]
        fcntl.ioctl(s.fileno(), siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def set_limits(limits: dict) -> None:
    """The kernel's resource limits (soft = hard, so it cannot raise them)."""
    table = {"address_space": resource.RLIMIT_AS, "processes": resource.RLIMIT_NPROC,
             "file_size": resource.RLIMIT_FSIZE, "cpu": resource.RLIMIT_CPU,
             "open_files": resource.RLIMIT_NOFILE}
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name, value in limits.items():
        if value is not None:
            resource.setrlimit(table[name], (int(value), int(value)))


def _own(box: str, uid: int, gid: int) -> None:
    """The box's folder (made by the grader, nothing of the student's in it yet) to ``uid``."""
    for folder, dirs, files in os.walk(box):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.chown(name, uid, gid, follow_symlinks=False)


def drop(spec: dict) -> None:
    """Give up every privilege over the box (see the module's docstring)."""
    if spec["mode"] == "root":
        uid = gid = int(spec["uid"])
        _own(spec["box"], uid, gid)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    elif spec["mode"] == "userns":
        uid, gid = os.getuid(), os.getgid()
        unshare(CLONE_NEWUSER)
        _map_user(uid, gid)
    _prctl(PR_SET_NO_NEW_PRIVS, 1)


def _status(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1


def init(spec: dict, command: list[str]) -> None:
    """PID 1 of the box: build it, start the kernel as its only child, reap until it ends."""
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if spec["mode"] != "none":
            for what in build_files(spec):
                print(f"xai-tutorial box: not read-only: {what}", file=sys.stderr)
            if spec.get("network", True):
                loopback_up()
        set_limits(spec.get("limits", {}))
        os.chdir(spec["cwd"])
        drop(spec)
    except (BoxError, OSError, ValueError, KeyError) as exc:
        print(f"xai-tutorial box: could not build the box: {exc}", file=sys.stderr)
        os._exit(SETUP_FAILED)
    kernel = os.fork()
    if kernel == 0:  # the kernel's own stdout/stderr go to a log in its folder, never the grader's
        log = os.open(os.path.join(spec["box"], "kernel.log"),
                      os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.execve(command[0], command, spec.get("env", {}))
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(1)
        if pid == kernel:
            os._exit(_status(status))


CGROUPS = "/sys/fs/cgroup"


def cgroup_paths(name: str) -> list[str]:
    """The folders of the box's control groups: one under cgroup v2's single tree, or one per
    controller (``cpu``, ``pids``) under v1."""
    if os.path.exists(os.path.join(CGROUPS, "cgroup.controllers")):
        return [os.path.join(CGROUPS, name)]
    return [os.path.join(CGROUPS, controller, name) for controller in ("cpu", "pids")]


def join_cgroups(spec: dict) -> str | None:
    """As root: put the launcher (so the whole box) in control groups of its own, with at most
    ``cpus`` CPUs of time and ``pids`` tasks (processes and threads), so that a submission
    that spins or forks cannot slow its neighbours more than one box may. Returns why not, or
    None."""
    group = spec.get("cgroup")
    if not group:
        return None
    period = 100_000
    settings = {"cpu.max": f"{int(group['cpus'] * period)} {period}",
                "cpu.cfs_period_us": str(period),
                "cpu.cfs_quota_us": str(int(group["cpus"] * period)),
                "pids.max": str(int(group["pids"]))}
    try:
        for folder in cgroup_paths(group["name"]):
            os.makedirs(folder, exist_ok=True)
            for name, value in settings.items():
                if os.path.exists(os.path.join(folder, name)):
                    _write(os.path.join(folder, name), value)
            _write(os.path.join(folder, "cgroup.procs"), str(os.getpid()))
    except OSError as exc:
        return f"{exc.strerror}: {exc.filename}"
    limited = {name for folder in cgroup_paths(group["name"]) for name in settings
               if os.path.exists(os.path.join(folder, name))}
    missing = [what for what, names in (("cpu", {"cpu.max", "cpu.cfs_quota_us"}),
                                        ("pids", {"pids.max"})) if not limited & names]
    return f"no {' or '.join(missing)} controller" if missing else None


def remove_cgroups(name: str) -> None:
    """Remove a box's control groups once its processes are gone (they die with the box, but
    not always before its launcher is reaped: retried for a few seconds)."""
    import time

    for folder in cgroup_paths(name):
        for _ in range(50):
            try:
                os.rmdir(folder)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[2] != "--":
        print("usage: box.py SPEC.json -- COMMAND...", file=sys.stderr)
        os._exit(2)
    with open(argv[1]) as f:
        spec = json.load(f)
    command = argv[3:]
    problem = join_cgroups(spec)
    if problem:
        print(f"xai-tutorial box: no control group ({problem})", file=sys.stderr)
    if spec["mode"] != "none":
        flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
        if spec.get("network", True):
            flags |= CLONE_NEWNET
        uid, gid = os.getuid(), os.getgid()
        try:
            if spec["mode"] == "userns":
                unshare(CLONE_NEWUSER)
                _map_user(uid, gid)
            unshare(flags)
        except (BoxError, OSError) as exc:
            print(f"xai-tutorial box: could not build the box: {exc}", file=sys.stderr)
            os._exit(SETUP_FAILED)
    child = os.fork()
    if child == 0:
        init(spec, command)
    # The grader interrupts the kernel through the process group: the launcher stays (the box
    # dies with it), and the first process of the box ignores it (a PID namespace's init does).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    os._exit(_status(status))


if __name__ == "__main__":
    main(sys.argv)
