"""The kernel template: runs inside a worker's jail, imports the heavy modules once, and forks one kernel per request.

It never runs student code. For each request it forks a child that makes new user, mount, PID, network,
IPC and UTS namespaces; in them a small reaper (PID 1) mounts a fresh /proc and empty tmpfs over every
writable folder, drops all capabilities, and forks the kernel, which starts ipykernel's `IPKernelApp`
on the connection file it was given. So each kernel starts from the template's clean state, cannot see
or signal the template or any earlier kernel, and everything it starts dies with its reaper.

Protocol, over a SOCK_SEQPACKET socket inherited as `--fd`: the template sends {"ready": ...} once its
imports are done; each request {"connection_file", "fd", "mounts"} comes with the probe channel's
descriptor attached, and is answered {"pid": the reaper's PID in the template's namespace} or {"error"}.
Run as `python -m grader.kernel_template --fd N [--preload a,b]`.
"""
from __future__ import annotations

import ctypes
import importlib
import json
import os
import signal
import socket
import sys
import threading
import time

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 0x1, 0x2, 0x4, 0x8, 0x20
MS_BIND, MS_REC, MS_PRIVATE = 0x1000, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP = 1, 4, 24
CAP_LAST = 63
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
MESSAGE_BYTES = 1 << 16
KERNEL_MODULES = ("ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger",  # IPython, zmq, debugpy
                  "IPython.core.debugger", "sqlite3")  # what IPKernelApp.initialize imports (pdb, the history database)

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    """Raise OSError with errno when a libc call failed."""
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def main(argv: list[str]) -> None:
    """Import, announce readiness, then serve fork requests until the grader closes the socket."""
    fd = int(argv[argv.index("--fd") + 1])
    preload = argv[argv.index("--preload") + 1].split(",") if "--preload" in argv else []
    _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # no kernel may ptrace it or read its memory, even with the same uid
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)  # what ipykernel would set before any user code
    started = time.monotonic()
    failed = {}
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception as error:  # a missing optional module: kernels import it themselves (and see the error)
            failed[name] = f"{type(error).__name__}: {error}"
    for name in KERNEL_MODULES:
        importlib.import_module(name)

    control = socket.socket(fileno=fd)
    cuda = "torch" in sys.modules and sys.modules["torch"].cuda.is_initialized()
    control.send(json.dumps({"ready": True, "seconds": round(time.monotonic() - started, 3), "failed": failed,
                             "threads": threading.active_count(), "cuda": bool(cuda)}).encode())
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, MESSAGE_BYTES, 1)
        except OSError:
            break
        if not message:
            break
        try:
            request = json.loads(message)
            pid = _fork_kernel(request, fds[0], control)
            reply = {"pid": pid}
        except Exception as error:
            reply = {"error": f"{type(error).__name__}: {error}"}
        for received in fds:
            os.close(received)
        control.send(json.dumps(reply).encode())
    os._exit(0)


def _fork_kernel(request: dict, channel_fd: int, control: socket.socket) -> int:
    """Fork the namespaces' first child; the reaper's PID (as this process sees it) once its set-up is done."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.close(read_end)
            os.close(control.detach())
            _enter_namespaces(write_end, request, channel_fd)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        lines = [line for line in pipe.read().decode(errors="replace").split("\n") if line]
    os.waitpid(child, 0)
    pids = [int(line[4:]) for line in lines if line.startswith("pid:") and line[4:].isdigit()]
    if len(pids) != 1 or "ok" not in lines:
        failed = [line for line in lines if line != "ok" and not line.startswith("pid:")]
        raise RuntimeError(f"the kernel's namespaces could not be made: {'; '.join(failed)[:300]}")
    return pids[0]


def _enter_namespaces(report_fd: int, request: dict, channel_fd: int) -> None:
    """In the first child: new namespaces, map this uid to itself, fork the reaper, report its PID, exit."""
    try:
        uid, gid = os.getuid(), os.getgid()
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # a non-dumpable process may not write its own uid_map
        _check(_libc.unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC
                             | CLONE_NEWUTS), "unshare")
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
        reaper = os.fork()
    except Exception as error:
        os.write(report_fd, f"{type(error).__name__}: {error}\n".encode())
        return
    if reaper == 0:
        _reap(request, channel_fd, report_fd)
    os.write(report_fd, f"pid:{reaper}\n".encode())


def _write(path: str, text: str) -> None:
    """Write a /proc control file."""
    with open(path, "w") as handle:
        handle.write(text)


def _reap(request: dict, channel_fd: int, report_fd: int) -> None:
    """PID 1 of the kernel's namespace: private mounts, no capabilities, then the kernel; exit when it does."""
    code = 1
    try:
        _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        _mount_fresh(request.get("mounts", []), os.path.dirname(request["connection_file"]))
        _drop_capabilities()
    except Exception as error:
        os.write(report_fd, f"{type(error).__name__}: {error}\n".encode())
        os._exit(1)
    os.write(report_fd, b"ok\n")
    os.close(report_fd)
    try:
        kernel = os.fork()
        if kernel == 0:
            _start_kernel(request, channel_fd)
        os.close(channel_fd)
        while True:
            pid, status = os.wait()
            if pid == kernel:
                code = os.waitstatus_to_exitcode(status)
                break
    finally:
        os._exit(code if isinstance(code, int) and code >= 0 else 1)


def _mount_fresh(mounts: list, keep: str) -> None:
    """This namespace's own /proc and an empty tmpfs (of the given size) over each writable folder.

    What the jail binds beneath such a folder (data, Python, the engine) is bound back where it was; of the
    ipc folder only `keep`, this kernel's own part of it.
    """
    kept = os.open(keep, os.O_PATH | os.O_DIRECTORY)
    _check(_libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    _check(_libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount /proc")
    roots = [str(path) for path, _ in mounts]
    beneath = [point for point in _mount_points() if any(_under(point, root) for root in roots)]
    outermost = [point for point in beneath if not any(_under(point, other) for other in beneath)
                 and not _under(keep, point, strictly=False)]
    held = {point: os.open(point, os.O_PATH) for point in outermost}
    made = {_top(point, roots) for point in [*outermost, keep]} - {*outermost, keep}
    for path, size in mounts:
        options = f"size={int(size)},mode=1777".encode()
        _check(_libc.mount(b"tmpfs", str(path).encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options), f"mount {path}")
        for point in [point for point in held if _under(point, str(path))]:
            _bind(held.pop(point), point)
    _bind(kept, keep)
    for top in sorted(made):  # the folders made to hold those binds are read-only, as bwrap's are
        _check(_libc.mount(top.encode(), top.encode(), None, MS_BIND | MS_REC, None), f"bind {top}")
        _check(_libc.mount(None, top.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY, None), f"read-only {top}")


def _top(point: str, roots: list[str]) -> str:
    """The folder right beneath the writable folder that holds `point` (made anew to hold it)."""
    root = next(root for root in roots if _under(point, root))
    return root.rstrip("/") + "/" + point[len(root.rstrip("/")) + 1:].split("/")[0]


def _mount_points() -> list[str]:
    """Every mount point of this mount namespace, in mount order."""
    with open("/proc/self/mountinfo") as info:
        return [_unescape(line.split()[4]) for line in info if line.strip()]


def _unescape(field: str) -> str:
    """A mountinfo path with its octal escapes (space, tab, newline, backslash) decoded."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def _under(path: str, root: str, *, strictly: bool = True) -> bool:
    """True when `path` lies beneath `root` (or is it, unless `strictly`)."""
    return (path == root and not strictly) or path.startswith(root.rstrip("/") + "/")


def _bind(handle: int, point: str) -> None:
    """Bind what `handle` (an O_PATH descriptor) names at `point`, made anew in the fresh tmpfs; close the handle."""
    if os.path.isdir(f"/proc/self/fd/{handle}"):
        os.makedirs(point, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(point), mode=0o755, exist_ok=True)
        os.close(os.open(point, os.O_CREAT | os.O_WRONLY, 0o644))
    _check(_libc.mount(f"/proc/self/fd/{handle}".encode(), point.encode(), None, MS_BIND | MS_REC, None),
           f"bind {point}")
    os.close(handle)


def _drop_capabilities() -> None:
    """Give up every capability the new user namespace granted (bounding set first, then capset to nothing)."""
    for cap in range(CAP_LAST + 1):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.capset(header, data), "capset")


def _start_kernel(request: dict, channel_fd: int) -> None:
    """The kernel: the probe channel at the descriptor number the grader expects, then ipykernel."""
    code = 1
    try:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # as a kernel started by exec would be
        os.setsid()
        target = int(request["fd"])
        if channel_fd != target:
            os.dup2(channel_fd, target)
        os.set_inheritable(target, True)
        null = os.open(os.devnull, os.O_RDWR)
        for standard in (0, 1, 2):
            os.dup2(null, standard)
        os.closerange(3, target)
        os.closerange(target + 1, 65536)
        os.chdir(request.get("cwd", "/"))
        from ipykernel.kernelapp import IPKernelApp

        sys.argv = ["ipykernel_launcher", "-f", request["connection_file"]]
        IPKernelApp.launch_instance(argv=sys.argv[1:])
        code = 0
    finally:
        os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
