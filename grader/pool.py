"""Grading on several workers at once (threads, each with its own worker), stopped cleanly by Ctrl-C."""
from __future__ import annotations

import os
import queue
import threading
from typing import Any, Callable, Protocol, Sequence

RESERVE = 1 << 30  # memory kept for the grader itself when sizing the pool


class Grades(Protocol):
    """What a worker must do: grade one item at a time, then close."""

    def grade(self, item: Any) -> Any: ...

    def close(self) -> None: ...


def default_workers(memory: int) -> int:
    """The number of cores, fewer when the memory available cannot hold that many kernels of `memory` bytes."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    available = _mem_available()
    if available is None:
        return cores
    return max(1, min(cores, (available - RESERVE) // memory))


def _mem_available() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (None where there is none)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def run_pool(items: Sequence[Any], make_worker: Callable[[], Grades], workers: int, *,
             on_start: Callable[[int, Any], None], on_result: Callable[[int, Any], None],
             abort: Callable[[], None]) -> list[int]:
    """Grade `items` on `workers` threads, each with its own worker; callbacks run in the calling thread.

    `on_start(index, item)` and `on_result(index, result)` are called as items start and finish.
    On Ctrl-C no further item starts, results already in are kept, `abort` is called until every thread has
    stopped, results of items still running then are dropped, and the indices left ungraded are returned.
    """
    todo: queue.Queue[int] = queue.Queue()
    for index in range(len(items)):
        todo.put(index)
    events: queue.Queue[tuple[str, int, Any]] = queue.Queue()
    stopping = threading.Event()

    def work() -> None:
        worker = None
        try:
            worker = make_worker()
            while not stopping.is_set():
                try:
                    index = todo.get_nowait()
                except queue.Empty:
                    return
                events.put(("start", index, None))
                events.put(("done", index, worker.grade(items[index])))
        except BaseException as error:  # a worker that cannot start or breaks: the calling thread re-raises it
            events.put(("failed", -1, error))
        finally:
            if worker is not None:
                worker.close()

    threads = [threading.Thread(target=work, name=f"grader-worker-{n}", daemon=True)
               for n in range(max(1, min(workers, len(items))))]
    for thread in threads:
        thread.start()
    finished: set[int] = set()
    try:
        while len(finished) < len(items):
            try:
                kind, index, payload = events.get(timeout=0.2)
            except queue.Empty:
                if not any(thread.is_alive() for thread in threads) and events.empty():
                    break
                continue
            if kind == "failed":
                raise payload
            if kind == "start":
                on_start(index, items[index])
            else:
                finished.add(index)
                on_result(index, payload)
    except KeyboardInterrupt:
        stopping.set()
        while not events.empty():  # what finished before any kernel is killed counts as graded
            kind, index, payload = events.get_nowait()
            if kind == "done":
                finished.add(index)
                on_result(index, payload)
        _stop(threads, stopping, abort)
        return [index for index in range(len(items)) if index not in finished]
    except BaseException:
        _stop(threads, stopping, abort)
        raise
    for thread in threads:
        thread.join()
    return []


def _stop(threads: list[threading.Thread], stopping: threading.Event, abort: Callable[[], None]) -> None:
    """Start no more items and kill running kernels until every worker thread has ended (a second Ctrl-C too)."""
    stopping.set()
    while any(thread.is_alive() for thread in threads):
        try:
            abort()
            for thread in threads:
                thread.join(0.2)
        except KeyboardInterrupt:
            continue
