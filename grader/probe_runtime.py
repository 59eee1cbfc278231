"""Kernel-side probe code: seal the kernel, run each fetch in a fresh child, hand back plain data.

This module's source text is injected into the student's kernel after the student's last cell (it
imports nothing from `grader`, so a notebook that patches `grader` changes nothing here); the
self-check imports it directly. `seal` forks the probe server (the forking thread is the only one
the child gets) and freezes the kernel with every thread the student started; inside a sandbox the
server also kills every other process of the notebook. The server answers the grader over a socket
it inherited, running each probe in a child of its own, so nothing a probe starts outlives it.
A record: a frame holding JSON (structure, numbers, strings, errors) and a flat dict of plain CPU
tensors saved with `torch.save` (read with `torch.load(weights_only=True)`); never a file.
"""
import contextlib
import json
import numbers
import os
import select
import signal
import struct
import sys
import time
import traceback

MAX_ITEMS = 100_000
MAX_DEPTH = 8
FRAME = struct.Struct(">II")  # header length, payload length
MAX_HEADER = 64 << 20
MAX_PAYLOAD = 1 << 30
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4


@contextlib.contextmanager
def swap(ns, **values):
    """Temporarily replace (or add) names in the student's namespace, restoring them afterwards."""
    missing = object()
    saved = {name: ns.get(name, missing) for name in values}
    ns.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is missing:
                ns.pop(name, None)
            else:
                ns[name] = value


class NeverRan(Exception):
    """Raised by a probe whose subject is in a cell that never ran (it does not parse): the check is 'not run'."""


def without_magics(source):
    """Cell source with IPython magics and shell escapes blanked out, so `ast` can read it."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in str(source).splitlines())


def statements(cells):
    """The top-level statements of the student's code cells in notebook order, as ast nodes (unparsable cells skipped)."""
    import ast

    found = []
    for text in cells:
        try:
            found += ast.parse(without_magics(text)).body
        except (SyntaxError, ValueError):
            continue
    return found


def _names(node, context):
    """Plain names a statement stores (assignment targets) or loads."""
    import ast

    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, context)}


def _assigned(node):
    """Names a top-level assignment statement binds."""
    import ast

    if isinstance(node, ast.Assign):
        return set().union(*(_names(target, ast.Store) for target in node.targets))
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return _names(node.target, ast.Store)
    return set()


def replay(ns, cells, names, swaps):
    """Re-run the student's last top-level assignments of `names`, with `swaps` standing in for earlier steps.

    Assignments those statements read from are re-run too when they depend on a swapped name, so the
    step is judged on the stand-ins alone. Returns {name: (value, replayed)}; a name no top-level
    assignment binds keeps its current value, marked not replayed.
    """
    import ast

    found = statements(cells)
    stored = [_assigned(node) for node in found]
    reads = [_names(node, ast.Load) for node in found]

    def last(name, before):
        return next((i for i in range(before - 1, -1, -1) if name in stored[i]), None)

    tainted = {}

    def depends(i):
        if i not in tainted:
            tainted[i] = False
            sources = [last(name, i) for name in reads[i] - set(swaps)]
            tainted[i] = bool(reads[i] & set(swaps)) or any(depends(j) for j in sources if j is not None)
        return tainted[i]

    chosen = set()

    def choose(i):
        if i in chosen:
            return
        chosen.add(i)
        for name in reads[i] - set(swaps):
            j = last(name, i)
            if j is not None and depends(j):
                choose(j)

    targets = {name: last(name, len(found)) for name in names}
    for index in targets.values():
        if index is not None:
            choose(index)
    with swap(ns, **swaps):
        for i in sorted(chosen):
            exec(compile(ast.Module(body=[found[i]], type_ignores=[]), "<your notebook>", "exec"), ns)
        return {name: (ns.get(name), targets[name] is not None) for name in names}


def loop_calling(cells, function, given=()):
    """The first top-level statement that calls `function` inside a loop or comprehension, as source; None if none.

    Statements in `given` (the assignment's own code, as `ast.unparse` writes it) are not the student's: skipped.
    """
    import ast

    loops = (ast.For, ast.While, ast.ListComp, ast.GeneratorExp, ast.SetComp, ast.DictComp)
    for node in statements(cells):
        if ast.unparse(node) in given:
            continue
        for loop in (n for n in ast.walk(node) if isinstance(n, loops)):
            if any(isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == function
                   for call in ast.walk(loop)):
                return ast.unparse(node)
    return None


def encode(value, tensors, depth=0):
    """Plain JSON for `value`, tensors moved into `tensors` (detached CPU plain tensors) by key."""
    import torch

    if depth > MAX_DEPTH:
        return {"kind": "other", "type": "nested too deeply"}
    if isinstance(value, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = value.detach().to("cpu").as_subclass(torch.Tensor).clone().contiguous()
        return {"kind": "tensor", "key": key}
    if type(value).__module__ == "numpy" and hasattr(value, "dtype"):
        try:
            return encode(torch.as_tensor(value.copy() if hasattr(value, "copy") else value), tensors, depth)
        except (TypeError, ValueError, RuntimeError):
            return {"kind": "other", "type": type(value).__name__}
    if value is None or isinstance(value, (bool, str)):
        return {"kind": "plain", "value": value if not isinstance(value, str) else value[:MAX_ITEMS]}
    if isinstance(value, numbers.Integral):
        return {"kind": "plain", "value": int(value)}
    if isinstance(value, numbers.Real):
        return {"kind": "plain", "value": float(value)}
    if isinstance(value, dict):
        return {"kind": "dict", "items": {str(k): encode(v, tensors, depth + 1)
                                          for k, v in list(value.items())[:MAX_ITEMS]}}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "L":
        return {"kind": "list", "items": [encode(v, tensors, depth + 1) for v in list(value)[:MAX_ITEMS]]}
    return {"kind": "other", "type": type(value).__name__}


def borrowed_from(value):
    """The library module a function or class came from, or None when the student's cells defined it."""
    import inspect

    if not (inspect.isfunction(value) or inspect.isclass(value) or inspect.isbuiltin(value)):
        return None
    module = getattr(value, "__module__", None) or "a library"
    return None if module == "__main__" else module


def probe(ns, config, inputs):
    """Run one probe's code in the student's namespace; a record of the value or of what went wrong."""
    borrowed = {name: borrowed_from(ns[name]) for name in config["needs"] if name in ns}
    borrowed = {name: module for name, module in borrowed.items() if module}
    missing = [name for name in config["needs"] if name not in ns or name in borrowed]
    if missing:
        return {"missing": missing, "borrowed": borrowed}, {}
    scope = {"ns": ns, "inputs": inputs, "swap": swap, "cells": list(config.get("cells", [])),
             "given": frozenset(config.get("given", [])), "replay": replay,
             "statements": statements, "loop_calling": loop_calling, "NeverRan": NeverRan}
    try:
        import torch

        scope["torch"] = torch
        exec(compile(config["code"], "<grader probe>", "exec"), scope)
        tensors = {}
        return {"value": encode(scope.get("result"), tensors)}, tensors
    except BaseException as error:  # KeyboardInterrupt too: a timed-out probe must still leave a record
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        return {"error": {"ename": type(error).__name__, "evalue": str(error)[:2000],
                          "traceback": "".join(lines)[-4000:]}}, {}


def pack_frame(header, payload=b""):
    """One message: lengths, JSON header, raw payload."""
    data = json.dumps(header).encode()
    return FRAME.pack(len(data), len(payload)) + data + payload


def unpack_frame(data):
    """(header, payload) from one whole frame; ValueError when it is not one."""
    if len(data) < FRAME.size:
        raise ValueError("short frame")
    size, payload_size = FRAME.unpack_from(data)
    if len(data) != FRAME.size + size + payload_size:
        raise ValueError("frame length does not match")
    return json.loads(data[FRAME.size:FRAME.size + size]), data[FRAME.size + size:]


def _read_exact(fd, count):
    """Exactly `count` bytes from `fd` (EOFError when it closes first)."""
    chunks = []
    while count:
        chunk = os.read(fd, min(count, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)


def _write_all(fd, data):
    """Write every byte of `data` to `fd`."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _read_frame(fd):
    """The next (header, payload) from `fd`."""
    size, payload_size = FRAME.unpack(_read_exact(fd, FRAME.size))
    if size > MAX_HEADER or payload_size > MAX_PAYLOAD:
        raise ValueError("frame too large")
    return json.loads(_read_exact(fd, size)), _read_exact(fd, payload_size)


def _harden():
    """Die with the parent; close /proc/<pid>/fd, /proc/<pid>/mem and ptrace to every other process."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if "torch" in sys.modules:  # a forked OpenMP pool hangs: one thread, as DataLoader workers do
        sys.modules["torch"].set_num_threads(1)


def _state(pid):
    """A process's state letter (R, S, T, Z...), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _sweep(kernel):
    """Keep the kernel stopped and kill every other process in the sandbox until none is left."""
    me = os.getpid()
    for _ in range(2000):
        others = [int(name) for name in os.listdir("/proc")
                  if name.isdigit() and int(name) not in (1, me, kernel) and _state(name) not in (None, "Z", "X")]
        os.kill(kernel, signal.SIGSTOP)
        if not others and _state(kernel) in ("T", "t"):
            return
        for pid in others:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.002)
    raise RuntimeError("the notebook's other processes could not be stopped")


def seal(ns, fd, sweep):
    """Kernel entry point: fork the probe server, then stop this kernel and all its threads for good."""
    if os.fork() == 0:
        _serve(ns, fd, sweep)
    os.kill(os.getpid(), signal.SIGSTOP)


def _serve(ns, fd, sweep):
    """The probe server: stop everything else, then answer the grader's requests until told to stop."""
    code = 0
    try:
        _harden()
        kernel = os.getppid()
        sys.stdout = sys.stderr = open(os.devnull, "w")  # the kernel's output streams died with its threads
        if sweep:
            _sweep(kernel)
        while True:
            header, payload = _read_frame(fd)
            if "nonce" in header:
                _write_all(fd, pack_frame({"nonce": header["nonce"]}))
            elif "probe" in header:
                reply, tensors = _probe_in_child(ns, header, payload, fd)
                if sweep:
                    _sweep(kernel)
                _write_all(fd, pack_frame({"probe": header["probe"], **reply}, tensors))
            else:
                break
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _probe_in_child(ns, header, inputs, fd):
    """Run one probe in a forked child (its threads and processes die with it); its reply and tensor bytes."""
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError, AttributeError):  # a wide pipe (1 MiB, the unprivileged limit): large answers in few reads
        import fcntl

        fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 1 << 20)
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.close(fd)
        _child_probe(ns, header["config"], inputs, write_end)
    os.close(write_end)
    data, status = _collect(read_end, pid, header["timeout"])
    os.close(read_end)
    if status in ("timeout", "too_large"):
        return {"status": status}, b""
    try:
        record, tensors = unpack_frame(data)
    except ValueError:
        return {"status": "died", "how": status}, b""
    return {"status": "ok", "record": record}, tensors


def _child_probe(ns, config, inputs, write_end):
    """In the probe's child: load inputs, probe, write one frame, exit."""
    code = 0
    try:
        _harden()
        import io

        import torch

        loaded = torch.load(io.BytesIO(inputs), weights_only=True) if inputs else {}
        record, tensors = probe(ns, config, loaded)
        buffer = io.BytesIO()
        torch.save(tensors, buffer)
        _write_all(write_end, pack_frame(record, buffer.getvalue()))
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _collect(read_end, pid, timeout):
    """Everything the child writes before it exits or its time is up; and how it ended."""
    chunks, size, deadline, ended = [], 0, time.monotonic() + timeout, None
    while ended is None:
        left = deadline - time.monotonic()
        if left <= 0:
            ended = "timeout"
        elif select.select([read_end], [], [], left)[0]:
            chunk = os.read(read_end, 1 << 20)
            chunks.append(chunk)
            size += len(chunk)
            ended = "eof" if not chunk else "too_large" if size > MAX_PAYLOAD else None
    if ended != "eof":
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if ended != "eof":
        return b"", ended
    how = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
           else f"exited with status {os.WEXITSTATUS(status)}")
    return b"".join(chunks), how
