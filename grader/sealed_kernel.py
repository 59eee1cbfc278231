"""A jupyter_client KernelManager whose kernel runs inside a `Jail` and talks over its ipc sockets."""
from __future__ import annotations

from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

from grader.sandbox import Jail


class SealedKernelManager(AsyncKernelManager):
    """Starts the python3 kernel wrapped in the jail's command, with Unix sockets in the jail's ipc folder."""

    def __init__(self, *, jail: Jail, ipc: Path | None = None, **kwargs) -> None:
        ipc = ipc or jail.ipc
        super().__init__(kernel_name="python3", transport="ipc", ip=str(ipc / "kernel"), **kwargs)
        self.jail = jail
        self.connection_file = str(ipc / "kernel.json")
        self.kernel_spec.interrupt_mode = "message"  # a signal to the launcher's group never reaches inside the jail

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """The kernel's usual command, run sealed; the connection file made readable by the jail's uid."""
        argv = super().format_kernel_cmd(extra_arguments)
        self.jail.give(Path(self.connection_file))
        return self.jail.command(argv)
