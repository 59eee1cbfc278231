"""A throwaway PostgreSQL server for the gradebook's tests: Debian's binaries, a cluster in a temporary folder."""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator


def _as_owner(user: str | None) -> list[str]:
    """The command prefix that runs a program as `user` (none when not root: the server runs as us)."""
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"] if user else []


@contextlib.contextmanager
def postgres_server() -> Iterator[tuple[str | None, str]]:
    """(URL of a `postgres` database on a fresh server over a unix socket, '') or (None, why none could start)."""
    binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not binaries:
        yield None, "PostgreSQL is not installed (Debian: apt-get install postgresql)"
        return
    bin_dir = Path(binaries[-1]).parent
    user = None
    if os.geteuid() == 0:  # postgres refuses to run as root
        try:
            user = pwd.getpwnam("postgres").pw_name
        except KeyError:
            user = "nobody"
    folder = Path(tempfile.mkdtemp(prefix="grader-pg-"))
    data, socket = folder / "data", folder
    if user:
        os.chmod(folder, 0o755)
        shutil.chown(folder, user=user)
    prefix = _as_owner(user)
    try:
        made = subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "grader",
                               "--no-sync"], capture_output=True, text=True, timeout=120)
        if made.returncode != 0:
            yield None, f"initdb failed: {made.stderr.strip()[-400:]}"
            return
        started = subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w",
                                  "-o", f"-k {socket} -c listen_addresses='' -F", "start"],
                                 capture_output=True, text=True, timeout=120)
        if started.returncode != 0:
            log = (folder / "log").read_text() if (folder / "log").exists() else ""
            yield None, f"pg_ctl start failed: {(started.stderr + log).strip()[-400:]}"
            return
        try:
            yield f"postgresql://grader@/postgres?host={socket}", ""
        finally:
            subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                           capture_output=True, timeout=120)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
