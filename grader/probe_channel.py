"""The grader's end of the socket the sealed probe server answers on.

The kernel inherits the other end when it starts, so anything the notebook ran could write to it
before the seal. The grader therefore reads nothing as an answer until the sandbox shows that the
kernel is stopped and the probe server is the only other live process (`verify`), and the server
has echoed a nonce sent only then; every byte that arrived earlier is thrown away.
"""
from __future__ import annotations

import json
import secrets
import socket
import time
from typing import Callable

from grader.probe_runtime import FRAME, MAX_HEADER, MAX_PAYLOAD, pack_frame

MARGIN_SECONDS = 10.0  # beyond a probe's own timeout, which the server enforces on its child


class ChannelClosed(Exception):
    """The probe server did not answer in time, or spoke out of turn."""


class ProbeChannel:
    """A socket pair: the kernel's end is passed to the kernel process, the grader keeps the other."""

    def __init__(self) -> None:
        self._grader, self._kernel = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._kernel.set_inheritable(True)
        self.kernel_fd = self._kernel.fileno()  # the descriptor number the kernel process inherits

    def launched(self) -> None:
        """The kernel has its copy: close the grader's copy of the kernel's end."""
        self._kernel.close()

    def close(self) -> None:
        """Close both ends."""
        self._grader.close()
        self._kernel.close()

    def open(self, *, verify: Callable[[], bool] | None, timeout: float) -> None:
        """Check the seal, then agree a nonce: bytes before its echo are dropped, so a forged or torn frame cannot
        shift the stream; ChannelClosed when that fails."""
        deadline = time.monotonic() + timeout
        while verify is not None and not verify():
            if time.monotonic() > deadline:
                raise ChannelClosed("the notebook's other processes were still running after the seal")
            time.sleep(0.01)
        nonce = secrets.token_hex(16)
        self._grader.sendall(pack_frame({"nonce": nonce}))
        echo, seen = pack_frame({"nonce": nonce}), b""
        while not seen.endswith(echo):
            seen = (seen + self._exactly(1, deadline))[-len(echo):]

    def ask(self, request: dict, payload: bytes) -> tuple[dict, bytes]:
        """Send one probe request; the server's reply for exactly that probe (ChannelClosed otherwise)."""
        self._grader.sendall(pack_frame(request, payload))
        header, tensors = self._receive(time.monotonic() + request["timeout"] + MARGIN_SECONDS)
        if header.get("probe") != request["probe"]:
            raise ChannelClosed("the probe server answered a different request")
        return header, tensors

    def finish(self) -> None:
        """Tell the server to exit (best effort)."""
        try:
            self._grader.sendall(pack_frame({"bye": True}))
        except OSError:
            pass

    def _receive(self, deadline: float) -> tuple[dict, bytes]:
        """The next frame, by `deadline`."""
        size, payload_size = FRAME.unpack(self._exactly(FRAME.size, deadline))
        if size > MAX_HEADER or payload_size > MAX_PAYLOAD:
            raise ChannelClosed("the probe server sent an oversized frame")
        try:
            header = json.loads(self._exactly(size, deadline))
        except ValueError:
            raise ChannelClosed("the probe server sent a malformed frame") from None
        payload = self._exactly(payload_size, deadline)
        if not isinstance(header, dict):
            raise ChannelClosed("the probe server sent a malformed frame")
        return header, payload

    def _exactly(self, count: int, deadline: float) -> bytes:
        """`count` bytes by `deadline`."""
        chunks = []
        while count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChannelClosed("the probe server did not answer in time")
            self._grader.settimeout(left)
            try:
                chunk = self._grader.recv(min(count, 1 << 20))
            except (socket.timeout, OSError):
                raise ChannelClosed("the probe server did not answer in time") from None
            if not chunk:
                raise ChannelClosed("the probe server closed the connection")
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)
