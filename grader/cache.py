"""A disk cache for expensive reference figures (e.g. multi-seed accuracy), keyed by everything they depend on.

Values are JSON (read back with `json`, never unpickled). The key is a hash of the caller's key
(function name, arguments, data fingerprint...) plus the source text of the modules named in it,
so editing the reference code or changing the data invalidates the entry on its own. Graders that want the
same missing entry at once (workers of one batch, parallel runs) compute it once: the first holds a lock file
beside the entry while it computes, the others wait for it and read what it wrote.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

CACHE_ENV = "GRADER_CACHE"


def cache_dir() -> Path:
    """$GRADER_CACHE, else $XDG_CACHE_HOME/grader, else ~/.cache/grader."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "grader"


def source_fingerprint(*module_names: str) -> str:
    """SHA-256 over the source files of the named modules."""
    digest = hashlib.sha256()
    for name in module_names:
        digest.update(Path(importlib.import_module(name).__file__).read_bytes())
    return digest.hexdigest()


def file_fingerprint(*paths: Path) -> str:
    """SHA-256 over the size and modification time of files (cheap stand-in for their content)."""
    digest = hashlib.sha256()
    for path in paths:
        stat = Path(path).stat()
        digest.update(f"{path}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def cached_json(name: str, key: dict[str, Any], compute: Callable[[], Any], *, modules: tuple[str, ...] = ()) -> Any:
    """`compute()`'s JSON value, from the cache when an entry for this exact key exists."""
    full_key = {"name": name, "key": key, "sources": source_fingerprint(*modules)}
    digest = hashlib.sha256(json.dumps(full_key, sort_keys=True, default=str).encode()).hexdigest()[:32]
    path = cache_dir() / f"{name}-{digest}.json"
    found = _read_entry(path)
    if found is not None:
        return found[0]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or when this process dies
        found = _read_entry(path)  # written while this process waited for the lock
        if found is not None:
            return found[0]
        value = compute()
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "w") as out:
            json.dump({"key": full_key, "value": value}, out)
        os.replace(temporary, path)
    return value


def _read_entry(path: Path) -> tuple[Any] | None:
    """The value stored at `path` (in a 1-tuple: the value may be None), or None when there is no readable entry."""
    try:
        return (json.loads(path.read_text())["value"],)
    except (OSError, ValueError, KeyError, TypeError):
        return None
