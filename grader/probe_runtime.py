"""Kernel-side probe code: run one fetch, turn what came back into plain data, write it where told.

This module's source text is injected into the student's kernel (it imports nothing from `grader`,
so a notebook that patches `grader` changes nothing here); the self-check imports it directly.
Output: `<out>.json` (structure, numbers, strings, errors) and `<out>.pt` (a flat dict of plain
CPU tensors, readable with `torch.load(weights_only=True)`).
"""
import contextlib
import json
import numbers
import traceback

MAX_ITEMS = 100_000
MAX_DEPTH = 8


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
    scope = {"ns": ns, "inputs": inputs, "swap": swap}
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


def run_probe(ns, config_json):
    """Kernel entry point: read the config, load inputs, probe, write `<out>.json` and `<out>.pt`."""
    import torch

    config = json.loads(config_json)
    inputs = torch.load(config["inputs"], weights_only=True) if config.get("inputs") else {}
    record, tensors = probe(ns, config, inputs)
    torch.save(tensors, config["out"] + ".pt")
    with open(config["out"] + ".json", "w") as handle:
        json.dump(record, handle)
