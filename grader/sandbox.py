"""The jail around one student kernel: a bubblewrap command, an unprivileged uid, limits, and clean-up.

Layout when the grader runs as root (an instructor's server, CI): bwrap starts as root, so it can
bind any folder, and makes new PID, IPC, network, UTS and mount namespaces; inside it `setpriv`
drops to a uid of its own (one per concurrent kernel, so `RLIMIT_NPROC` binds) with no
capabilities and `no_new_privs`, then `prlimit` sets the memory, process and file-size limits.
As an ordinary user, bwrap makes a user namespace too and the limits are set before it.
See docs/security.md for what each layer stops.
"""
from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import site
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from grader.exceptions import GraderError

GiB = 1 << 30
ADDRESS_SPACE_FACTOR = 4  # torch, a deep-learning library and ipykernel map ~4 GiB of address space at import
MiB = 1 << 20
FIRST_UID = 61000
UID_SLOTS = 256
WORKDIR = "/submission"  # the kernel's working folder inside the jail (a size-limited tmpfs)
HOME = "/tmp/home"
ENV_PASSED = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
              "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "fonts", "alternatives", "localtime", "mime.types",
             "matplotlibrc", "ssl")
GPU_DEVICES = ("nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset")
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; Fedora: `dnf install "
                "bubblewrap`); on Ubuntu 24.04+ also allow user namespaces: `sysctl -w "
                "kernel.apparmor_restrict_unprivileged_userns=0`; or grade without isolation: --no-sandbox")


class SandboxUnavailable(GraderError, RuntimeError):
    """Grading was asked to run sealed but bubblewrap cannot start a sandbox here."""


@dataclass(frozen=True)
class Limits:
    """What one sealed kernel may use."""

    memory: int = 4 * GiB      # resident memory of the whole jail (a watchdog); each process's address space: 4x
    processes: int = 256       # processes and threads of the jail's uid
    disk: int = 1 * GiB        # the working folder (tmpfs) and any one file
    tmp: int = 256 * MiB       # the private /tmp


def parse_size(text: str) -> int:
    """Bytes from '4G', '512M', '1.5GiB' or a plain number of bytes."""
    value = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1 << 10, "M": MiB, "G": GiB, "T": 1 << 40}.get(value[-1:], 1)
    number = value[:-1] if value[-1:] in "KMGT" else value
    try:
        size = int(float(number) * scale)
    except ValueError:
        raise GraderError(f"not a size: {text!r} (use e.g. 4G, 512M)") from None
    if size <= 0:
        raise GraderError(f"a size must be positive: {text!r}")
    return size


@lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """Why no sandbox can be started here (None when bubblewrap works)."""
    if not sys.platform.startswith("linux"):
        return f"sandboxing needs Linux (this is {sys.platform}); grade there, or use --no-sandbox"
    if shutil.which("bwrap") is None or shutil.which("setpriv") is None or shutil.which("prlimit") is None:
        return f"bubblewrap (bwrap), setpriv or prlimit is not installed: {INSTALL_HINT}"
    probe = [*_namespace_flags(), "--ro-bind", "/", "/", "--proc", "/proc", "--", "true"]
    done = subprocess.run(["bwrap", *probe], capture_output=True, text=True)
    if done.returncode != 0:
        return f"bwrap cannot create namespaces here ({done.stderr.strip()[:200]}): {INSTALL_HINT}"
    return None


def require_sandbox() -> None:
    """Raise SandboxUnavailable with the fix when bubblewrap cannot be used."""
    reason = unavailable_reason()
    if reason:
        raise SandboxUnavailable(f"cannot grade untrusted notebooks without a sandbox: {reason}")


def require_readable(paths: list[Path]) -> None:
    """Raise SandboxUnavailable when a folder shown to the jail is closed to other users (the jail's uid is one)."""
    if os.geteuid() != 0:
        return
    closed = [path for path in paths if path.stat().st_mode & 0o005 != 0o005]
    if closed:
        mode = closed[0].stat().st_mode & 0o777
        raise SandboxUnavailable(f"the sandbox's user cannot read {closed[0]} (mode {mode:o}); "
                                 f"allow it with `chmod o+rx {closed[0]}`")


def _namespace_flags(*, user: bool | None = None) -> list[str]:
    """New PID, IPC, network, UTS (and cgroup) namespaces; a user namespace too unless bwrap runs as root."""
    flags = ["--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
             "--die-with-parent", "--new-session"]
    return ["--unshare-user", *flags] if (os.geteuid() != 0 if user is None else user) else flags


class UidSlot:
    """An unprivileged uid reserved for one kernel at a time (a lock file per uid, shared by processes)."""

    def __init__(self) -> None:
        folder = Path(tempfile.gettempdir()) / "grader-sandbox-uids"
        folder.mkdir(mode=0o700, exist_ok=True)
        for uid in range(FIRST_UID, FIRST_UID + UID_SLOTS):
            handle = open(folder / str(uid), "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            self.uid, self._handle = uid, handle
            kill_uid(uid)  # a previous grader that was killed may have left something behind
            return
        raise SandboxUnavailable(f"all {UID_SLOTS} sandbox uids are in use")

    def release(self) -> None:
        """Kill whatever still runs as this uid and free the slot."""
        kill_uid(self.uid)
        self._handle.close()


def processes_of(uid: int) -> list[int]:
    """Pids whose real uid is `uid`."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid == uid and _real_uid(entry.name) == uid:
                pids.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return pids


def _real_uid(pid: str) -> int:
    """The real uid of a process, from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise ValueError(pid)


OUTER_GRACE = 0.5  # seconds bwrap's own processes, outside a jail's PID namespace, get to exit once it is empty


def kill_uid(uid: int, *, spare: set[int] = frozenset()) -> None:
    """SIGKILL every live process of `uid` but those in `spare`, again until none is left (a fork loop cannot outrun it).

    What runs inside a jail's PID namespace goes first: the namespace's init reaps everything in it as it dies, and
    bwrap's processes outside it (they run no student code) then exit by themselves and are reaped by whoever started
    them, instead of lingering as zombies until the machine's init collects them. Any of those still running after
    OUTER_GRACE seconds is killed too. A zombie counts as gone: it runs nothing.
    """
    outer_deadline = None
    for _ in range(500):
        live = {pid: len(ns_pids(pid)) for pid in processes_of(uid)
                if pid not in spare and state_and_threads(pid)[0] not in ("Z", "X", None)}
        if not live:
            return
        targets = [pid for pid, depth in live.items() if depth > 1]
        if not targets:
            outer_deadline = outer_deadline or time.monotonic() + OUTER_GRACE
            targets = list(live) if time.monotonic() >= outer_deadline else []
        for pid in targets:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)


def ns_pids(pid: int) -> list[int]:
    """A process's PID in each nested PID namespace, outermost first (from /proc/<pid>/status NSpid)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("NSpid:"):
                    return [int(value) for value in line.split()[1:]]
    except (OSError, ValueError):
        pass
    return []


def start_time(pid: int) -> int:
    """When a process started (clock ticks since boot; a huge number when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return 1 << 62


def state_and_threads(pid: int) -> tuple[str | None, int]:
    """A process's state letter and thread count (None, 0 when it is gone)."""
    state, threads = None, 0
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("State:"):
                    state = line.split()[1]
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None, 0
    return state, threads


def resident_bytes(uid: int) -> int:
    """Memory the processes of `uid` hold: proportional set sizes, so pages shared by forks count once."""
    total = 0
    for pid in processes_of(uid):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                total += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:")) * 1024
        except (OSError, ValueError, IndexError, StopIteration):
            continue
    return total


def package_paths(names: tuple[str, ...]) -> list[Path]:
    """Where the named packages would import from in this process (a course's own, masked in the jail)."""
    paths = []
    for name in names:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            continue
        for location in (spec.submodule_search_locations or []) if spec else []:
            paths.append(Path(location).resolve())
    return paths


def python_roots() -> list[Path]:
    """Folders the kernel's Python needs: the environment, the interpreter's installation, its libraries."""
    roots = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
    roots.add(Path(sys.executable).resolve().parent.parent)
    roots |= {path for folder in site.getsitepackages() for path in _pth_folders(Path(folder))}
    roots = {root for root in roots if root.is_dir() and str(root) not in ("/", "/usr")}
    return sorted(root for root in roots if not any(root != other and root.is_relative_to(other) for other in roots))


def _pth_folders(site_packages: Path) -> list[Path]:
    """Folders that `.pth` files in a site-packages folder add to sys.path (e.g. a layered environment's libraries)."""
    found = []
    for pth in sorted(site_packages.glob("*.pth")):
        try:
            lines = pth.read_text().splitlines()
        except (OSError, UnicodeDecodeError):
            continue
        for line in lines:
            line = line.strip()
            if line and not line.startswith(("#", "import ", "import\t")):
                folder = (site_packages / line).resolve()
                if folder.is_dir():
                    found.append(folder)
    return found


_LIVE: set["Jail"] = set()  # jails not yet closed, for abort_all
_LIVE_LOCK = threading.Lock()


def abort_all() -> int:
    """Kill every process of every open jail of this grader (Ctrl-C): their kernels die, each owner then cleans up.

    Returns how many jails were hit. Slots and folders stay with their owners, which close them as usual.
    """
    with _LIVE_LOCK:
        jails = list(_LIVE)
    for jail in jails:
        jail.stopped_because = "grading was interrupted"
        jail.sweep()
    return len(jails)


@dataclass(eq=False)
class Jail:
    """One sealed kernel's jail: its private host folder, uid, limits and the bwrap command around a program."""

    limits: Limits
    readonly: list[Path]                      # extra folders visible read-only at their own path (data)
    env: dict[str, str]                       # variables set inside, besides the allow-list
    overlays: list[Path] = field(default_factory=list)  # folders under `readonly` replaced by small writable tmpfs
    engine: Path | None = None                # the engine package, visible read-only (never the course)
    hidden: tuple[str, ...] = ()              # packages masked by an empty folder should they be installed
    folder: Path = field(init=False)
    uid: int = field(init=False)
    stopped_because: str | None = field(default=None, init=False)
    nested: bool = field(default=False, init=False)  # bwrap runs as the jail's uid, so its kernels can nest namespaces
    spared: set[int] = field(default_factory=set, init=False)  # a kernel template and its reaper: never swept

    def __post_init__(self) -> None:
        require_readable([*python_roots(), *self.readonly])
        self.folder = Path(tempfile.mkdtemp(prefix="grader-jail-"))
        self.folder.chmod(0o711)  # the jail's uid may pass through (a nested jail's bwrap binds from here), not list
        self._slot = UidSlot() if os.geteuid() == 0 else None
        self.uid = self._slot.uid if self._slot else os.getuid()
        self.ipc = self.folder / "ipc"
        self.ipc.mkdir()
        self._write_identity()
        if self._slot:
            os.chown(self.ipc, self.uid, self.uid)
        self._watchdog: threading.Thread | None = None
        self._closed = threading.Event()
        with _LIVE_LOCK:
            _LIVE.add(self)

    def _write_identity(self) -> None:
        """passwd and group files naming the jail's user `student`."""
        (self.folder / "passwd").write_text(f"root:x:0:0::/root:/bin/sh\nstudent:x:{self.uid}:{self.uid}::{HOME}:/bin/sh\n")
        (self.folder / "group").write_text(f"root:x:0:\nstudent:x:{self.uid}:\n")

    def command(self, argv: list[str]) -> list[str]:
        """`argv` wrapped so that it runs sealed (as the jail's uid inside bwrap, limits set)."""
        limits = ["prlimit", f"--fsize={self.limits.disk}", "--core=0"]
        if not self._gpu():  # CUDA reserves far more address space than it uses: there the watchdog alone limits memory
            limits.insert(1, f"--as={ADDRESS_SPACE_FACTOR * self.limits.memory}")
        bwrap = ["bwrap", *_namespace_flags(), "--clearenv", *self._env_flags(), *self._filesystem(),
                 "--chdir", WORKDIR]
        drop = ["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", "--no-new-privs",
                "--inh-caps=-all", "--bounding-set=-all"]
        if os.geteuid() != 0:
            running = len(processes_of(os.getuid()))
            return [*limits, f"--nproc={running + self.limits.processes}", "--", *bwrap, "--", *argv]
        if self.nested:
            return self._nested(argv, [*drop, *limits, f"--nproc={self.limits.processes}"])
        return [*bwrap, "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP", "--",
                *drop, *limits, f"--nproc={self.limits.processes}", "--", *argv]

    def _nested(self, argv: list[str], drop: list[str]) -> list[str]:
        """Two bwraps: as root, one that lays out the jail's files (the host's /proc left whole); then, as the jail's
        uid, one that makes the namespaces. An unprivileged bwrap covers nothing in its fresh /proc, so the kernels
        forked inside can mount a /proc of their own."""
        outer = ["bwrap", "--die-with-parent", "--new-session", *self._filesystem(proc=["--bind", "/proc", "/proc"])]
        inner = ["bwrap", *_namespace_flags(user=True), "--clearenv", *self._env_flags(), "--dev-bind", "/", "/",
                 "--proc", "/proc", "--chdir", WORKDIR]
        return [*outer, "--", *drop, "--", *inner, "--", *argv]

    def _env_flags(self) -> list[str]:
        """A cleared environment rebuilt from a short allow-list."""
        env = {name: os.environ[name] for name in ENV_PASSED if name in os.environ}
        env.update(PATH=f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", HOME=HOME, TMPDIR="/tmp",
                   USER="student", LOGNAME="student", MPLCONFIGDIR=f"{HOME}/.matplotlib", GRADER_SANDBOX="1",
                   PYTHONDONTWRITEBYTECODE="1", **self.env)
        return [flag for name, value in env.items() for flag in ("--setenv", name, value)]

    def _filesystem(self, proc: tuple[str, ...] | list[str] = ("--proc", "/proc")) -> list[str]:
        """Read-only system, Python and data; a tmpfs working folder and /tmp; the ipc folder; nothing else."""
        args: list[str] = []
        for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            path = Path("/") / top
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                args += ["--ro-bind", str(path), str(path)]
        args += ["--ro-bind", "/usr", "/usr"]
        for name in ETC_FILES:
            args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        args += ["--ro-bind", str(self.folder / "passwd"), "/etc/passwd",
                 "--ro-bind", str(self.folder / "group"), "/etc/group",
                 *proc, "--dev", "/dev", *self._gpu()]
        scratch = self.scratch()
        for path, size in scratch[:3]:
            args += ["--perms", "1777", "--size", str(size), "--tmpfs", path]
        visible = [*python_roots(), *self.readonly, *([self.engine] if self.engine else [])]
        for path in visible:
            args += [*_parents(path), "--ro-bind", str(path), str(path)]
        for path, size in scratch[3:]:
            args += ["--perms", "1777", "--size", str(size), "--tmpfs", path]
        for hidden in package_paths(self.hidden):
            if any(hidden.is_relative_to(root) for root in visible):
                args += ["--tmpfs", str(hidden)]
        args += [*_parents(self.ipc), "--bind", str(self.ipc), str(self.ipc)]
        return args

    def scratch(self) -> list[tuple[str, int]]:
        """The jail's writable folders, each an empty tmpfs of its size: /tmp, /dev/shm, the working folder, overlays."""
        return [("/tmp", self.limits.tmp), ("/dev/shm", 64 * MiB), (WORKDIR, self.limits.disk),
                *((str(folder), self.limits.tmp) for folder in self.overlays)]

    def _gpu(self) -> list[str]:
        """The NVIDIA device files, when this machine has them."""
        devices = sorted(str(p) for p in Path("/dev").glob("nvidia[0-9]*"))
        devices += [f"/dev/{name}" for name in GPU_DEVICES if Path(f"/dev/{name}").exists()]
        if not devices:
            return []
        return [*(f for d in devices for f in ("--dev-bind", d, d)), "--ro-bind", "/sys", "/sys",
                "--ro-bind-try", "/proc/driver/nvidia", "/proc/driver/nvidia"]

    def give(self, path: Path) -> None:
        """Let the jail's uid read a file the grader wrote for it (the kernel's connection file)."""
        if self._slot:
            os.chown(path, self.uid, self.uid)

    def watch(self) -> None:
        """Start a thread that kills the jail when its processes together hold more memory than allowed."""
        if self._slot is None or self._watchdog is not None:
            return
        self._watchdog = threading.Thread(target=self._watch, daemon=True, name=f"jail-watchdog-{self.uid}")
        self._watchdog.start()

    def _watch(self) -> None:
        """The watchdog's loop."""
        while not self._closed.wait(0.2):
            if resident_bytes(self.uid) > self.limits.memory:
                self.stopped_because = (f"stopped by the sandbox: the notebook's processes used more than "
                                        f"{self.limits.memory / GiB:.1f} GiB of memory")
                kill_uid(self.uid, spare=self.spared)

    def kernel_pid(self) -> int | None:
        """The kernel: the jail's oldest process but a template's (everything else the notebook ran started after it)."""
        pids = [pid for pid in processes_of(self.uid) if pid not in self.spared] if self._slot else []
        return min(pids, key=start_time, default=None)

    def stop_all_but_kernel(self) -> None:
        """Before the seal: kill every process of the notebook except the kernel itself (a fork bomb's too)."""
        kill_uid(self.uid, spare={self.kernel_pid(), *self.spared})

    def sealed(self) -> bool:
        """True when the kernel is stopped and the only other live process of the jail is single-threaded."""
        if self._slot is None:
            return True
        kernel = self.kernel_pid()
        states = {pid: state_and_threads(pid) for pid in processes_of(self.uid) if pid not in self.spared}
        live = {pid: value for pid, value in states.items() if value[0] not in ("Z", "X", None)}
        others = [threads for pid, (state, threads) in live.items() if pid != kernel]
        return kernel in live and live[kernel][0] in ("T", "t") and others == [1]

    def sweep(self) -> None:
        """Kill every process the jail's uid still has but a template's (between kernels, and at the end)."""
        if self._slot:
            kill_uid(self.uid, spare=self.spared)

    def close(self) -> None:
        """Stop the watchdog, kill what is left, free the uid and remove the host folder."""
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self._closed.set()
        if self._watchdog is not None:
            self._watchdog.join()
        if self._slot:
            self._slot.release()
        shutil.rmtree(self.folder, ignore_errors=True)


def _parents(path: Path) -> list[str]:
    """`--dir` for every ancestor of `path`, world-searchable, so the jail's uid can reach a bound folder."""
    return [flag for parent in reversed(path.parents) if str(parent) != "/"
            for flag in ("--perms", "0755", "--dir", str(parent))]
