"""Pre-imported kernels, the grader's side: one worker's jail running the kernel template, and kernels forked from it.

The template (`grader.kernel_template`) is started once per worker in a jail of its own and imports the
course's heavy modules (course.toml `[kernel] preload`); each submission's kernel is forked from it
into fresh namespaces (see that module), so the fixed start-up is paid once per worker. Between
submissions every process of the jail's uid but the template is killed. The template itself never runs
student code, cannot be traced or signalled by a kernel, and is started again if it dies.
"""
from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import socket
import subprocess
import sys
import time
from typing import Callable

from grader.exceptions import KernelFailed
from grader.sandbox import WORKDIR, Jail, ns_pids, processes_of, start_time, state_and_threads
from grader.sealed_kernel import SealedKernelManager

READY_SECONDS = 180.0
SPAWN_SECONDS = 30.0


class KernelTemplate:
    """A worker's kernel template: started on first use, kept between submissions, restarted when it dies."""

    def __init__(self, make_jail: Callable[[], Jail], *, preload: tuple[str, ...] = ()) -> None:
        self.make_jail, self.preload = make_jail, preload
        self.jail: Jail | None = None
        self.unavailable: str | None = None  # why no template can run here (kernels then start cold)
        self.startup_seconds: float | None = None  # how long the last start took (imports included)
        self.report: dict = {}  # what the template said when ready: import seconds, failed imports, threads, CUDA
        self._process: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._template_pids: set[int] = set()
        self._started = 0.0
        self._waiting = False  # launched, its readiness not yet read

    def ready_jail(self) -> Jail | None:
        """The worker's jail with a live template in it (started now if there is none); None when none can start."""
        if self.unavailable is None:
            try:
                self._ensure_ready()
            except KernelFailed as error:
                self.unavailable = str(error)
                self.close()
        if self.unavailable is not None:
            return None
        self.jail.stopped_because = None
        return self.jail

    def manager(self, jail: Jail) -> "ForkedKernelManager":
        """A kernel manager whose kernel is forked from this template, with an ipc folder of its own."""
        return ForkedKernelManager(template=self, jail=jail)

    def spawn(self, *, connection_file: str, fd: int, cwd: str) -> "ForkedKernel":
        """Fork a kernel on `connection_file` with the probe channel at descriptor `fd`; the process to watch.

        A template that died (or stopped answering) is started again once, in the same jail.
        """
        request = {"connection_file": connection_file, "fd": fd, "cwd": cwd, "mounts": self.jail.scratch()}
        self._ensure_ready()
        for attempt in (1, 2):
            try:
                socket.send_fds(self._control, [json.dumps(request).encode()], [fd])
                reply = self._receive(SPAWN_SECONDS)
                break
            except (OSError, KernelFailed) as error:
                if attempt == 2:
                    raise KernelFailed(f"the kernel template did not fork a kernel: {error}") from None
                self._start()
        if "pid" not in reply:
            raise KernelFailed(f"the kernel template could not fork a kernel: {reply.get('error', reply)}")
        reaper = self._host_pid(int(reply["pid"]))
        self.jail.spared = {*self._template_pids, reaper}
        return ForkedKernel(reaper)

    def clean(self) -> None:
        """After a submission: kill every process of the jail but the template; drop the kernels' ipc folders."""
        if self.jail is None:
            return
        self.jail.spared = set(self._template_pids)
        self.jail.sweep()
        for folder in self.jail.ipc.iterdir():
            shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        """Stop the template and close its jail."""
        self._stop_process()
        if self.jail is not None:
            self.jail.close()
            self.jail = None

    def _stop_process(self) -> None:
        """Stop the template process and close the socket to it."""
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._process is not None:
            if self.jail is not None:  # the jail's namespace first: bwrap then exits by itself, leaving no zombie
                self.jail.spared = set()
                self.jail.sweep()
            self._process.kill()
            self._process.wait()
            self._process = None

    def _ensure_ready(self) -> None:
        """A live template whose imports are done: started (again) or waited for as needed."""
        if self._process is None or self._process.poll() is not None:
            self._start()
        elif self._waiting:
            self._await_ready()

    def launch(self) -> None:
        """Start the template's imports now, without waiting for them (they overlap the grader's own start)."""
        if self.unavailable is None and self._process is None:
            try:
                self._launch()
            except (OSError, KernelFailed) as error:
                self.unavailable = str(error)
                self.close()

    def _start(self) -> None:
        """A fresh template in the worker's jail; wait until its imports are done."""
        self._stop_process()
        self._launch()
        self._await_ready()

    def _launch(self) -> None:
        """Start a template process in the worker's jail (made now if there is none)."""
        self._started = time.monotonic()
        if self.jail is None:
            self.jail = self.make_jail()
            self.jail.nested = True
        self.jail.spared = set()
        self.jail.sweep()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [sys.executable, "-m", "grader.kernel_template", "--fd", str(theirs.fileno())]
        if self.preload:
            argv += ["--preload", ",".join(self.preload)]
        with open(self.jail.folder / "template.log", "wb") as log, theirs:
            self._process = subprocess.Popen(self.jail.command(argv), pass_fds=(theirs.fileno(),),
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self._control = ours
        self._waiting = True

    def _await_ready(self) -> None:
        """Wait for the launched template to finish its imports (KernelFailed when it does not)."""
        self._waiting = False
        try:
            ready = self._receive(READY_SECONDS)
        except KernelFailed as error:
            detail = (self.jail.folder / "template.log").read_text(errors="replace").strip()[-1000:]
            self._stop_process()
            raise KernelFailed(f"the kernel template did not start: {error}" + (f": {detail}" if detail else "")) from None
        if ready.get("cuda"):
            self._stop_process()
            raise KernelFailed("the kernel template initialised CUDA (forked kernels could not use the GPU); "
                               "remove the module that does so from [kernel] preload")
        self.report = ready
        self._template_pids = set(processes_of(self.jail.uid))
        self.jail.spared = set(self._template_pids)
        self.jail.watch()
        self.startup_seconds = time.monotonic() - self._started

    def _receive(self, timeout: float) -> dict:
        """The template's next message, by `timeout` seconds (KernelFailed when none comes)."""
        ready, _, _ = select.select([self._control], [], [], timeout)
        if not ready:
            raise KernelFailed(f"no answer from the kernel template within {timeout:.0f}s")
        message = self._control.recv(1 << 16)
        if not message:
            raise KernelFailed("the kernel template exited")
        return json.loads(message)

    def _host_pid(self, nested_pid: int) -> int:
        """The host PID of the process the template knows as `nested_pid` (PID 1 of its own namespace)."""
        deadline = time.monotonic() + SPAWN_SECONDS
        while time.monotonic() < deadline:
            for pid in processes_of(self.jail.uid):
                levels = ns_pids(pid)
                if len(levels) >= 3 and levels[-1] == 1 and levels[-2] == nested_pid:
                    return pid
            time.sleep(0.005)
        raise KernelFailed("the forked kernel's process could not be found")


class ForkedKernel:
    """The reaper of a forked kernel's namespace, as jupyter_client's provisioner sees a kernel process."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._born = start_time(pid)

    def poll(self) -> int | None:
        """None while the kernel's namespace lives, else an exit code."""
        alive = start_time(self.pid) == self._born and state_and_threads(self.pid)[0] not in ("Z", "X", None)
        return None if alive else -9

    def wait(self, timeout: float | None = None) -> int:
        """Wait until the namespace is gone."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired("forked kernel", timeout)
            time.sleep(0.02)
        return -9

    def send_signal(self, signum: int) -> None:
        """Any signal ends the namespace: its reaper is killed, and every process in it with it."""
        if self.poll() is None:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        """Kill the namespace."""
        self.send_signal(9)

    terminate = kill


class ForkedKernelManager(SealedKernelManager):
    """A sealed kernel manager that forks its kernel from the worker's template instead of starting a process."""

    def __init__(self, *, template: KernelTemplate, jail: Jail, **kwargs) -> None:
        ipc = jail.ipc / secrets.token_hex(8)
        ipc.mkdir()
        jail.give(ipc)
        super().__init__(jail=jail, ipc=ipc, **kwargs)
        self.template = template

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw) -> None:
        """Ask the template for the kernel; hand jupyter_client the forked kernel as its process."""
        fds = kw.get("pass_fds") or ()
        if len(fds) != 1:
            raise KernelFailed("a forked kernel needs exactly one probe channel descriptor")
        process = self.template.spawn(connection_file=self.connection_file, fd=fds[0], cwd=WORKDIR)
        self.provisioner.process, self.provisioner.pid, self.provisioner.pgid = process, process.pid, None
        self._reconcile_connection_info(self.provisioner.connection_info)

