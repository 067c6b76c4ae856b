"""Saving and loading a model's arrays in the safetensors format: an 8-byte little-endian header
length, a JSON header naming each tensor's dtype, shape and byte range, then the raw bytes. Other
tools (the `safetensors` package, PyTorch, JAX) read it; nothing in it is executed on loading.

Names are the arrays' paths in the model (`layers.0.weight`). Saving writes a temporary file
beside the target and renames it over (atomic: a crash leaves the old file or the new one).
Loading checks everything (the header, each name, dtype and shape, the byte ranges, the file's
length) before changing the model, so a bad file leaves the model as it was."""
from __future__ import annotations

import json
import os
import struct
import tempfile

import numpy as np

from .. import trees
from ..errors import ZygopyError

__all__ = ["ModelFileError", "named_arrays", "save", "read", "load"]

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "U8": np.uint8, "BOOL": np.bool_}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}
MAX_HEADER = 100 * 1024 * 1024


class ModelFileError(ZygopyError):
    """A parameter file that is corrupt, truncated, not safetensors, or for another model."""

    def __init__(self, path, message):
        super().__init__(message, filename=os.fspath(path))


def named_arrays(model):
    """{path: array} of every array in the model, in the tree's order."""
    out = {}

    def walk(node, value, prefix):
        if node.kind == "leaf":
            if isinstance(value, np.ndarray):
                out[prefix] = value
            return
        for i, child in enumerate(node.children):
            key = str(i) if node.is_sequence or node.kind == "list" else node.keys[i]
            sub = value[i] if node.is_sequence or node.kind == "list" else getattr(value, key)
            walk(child, sub, f"{prefix}.{key}" if prefix else key)

    node, _ = trees.flatten(model)
    walk(node, model, "")
    return out


def save(path, model, metadata=None):
    """Write the model's arrays to `path` (safetensors)."""
    arrays = named_arrays(model)
    header, offset = {}, 0
    for name, a in arrays.items():
        if a.dtype not in CODES:
            raise TypeError(f"save: {name} has dtype {a.dtype}, which safetensors cannot hold")
        header[name] = {"dtype": CODES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    header["__metadata__"] = {"format": "zygopy", **(metadata or {})}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".safetensors", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for a in arrays.values():
                f.write(np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def read(path):
    """{name: array} from a safetensors file, every part of it checked."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ModelFileError(path, f"{len(blob)} bytes: too short for a safetensors file")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > min(MAX_HEADER, len(blob) - 8):
        raise ModelFileError(path, f"the header claims {n} bytes, the file has {len(blob) - 8} "
                             "after the length (truncated, or not a safetensors file)")
    try:
        header = json.loads(blob[8:8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(path, f"the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, "the header is not a JSON object")
    header.pop("__metadata__", None)
    data, out, end = blob[8 + n:], {}, 0
    for name, info in header.items():
        try:
            dtype = np.dtype(DTYPES[info["dtype"]]).newbyteorder("<")
            shape = tuple(int(d) for d in info["shape"])
            start, stop = (int(o) for o in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ModelFileError(path, f"the entry for {name!r} is malformed: {info!r}") from None
        if not 0 <= start <= stop <= len(data) or stop - start != dtype.itemsize * int(
                np.prod(shape, dtype=np.int64)):
            raise ModelFileError(path, f"{name!r}: bytes {start}..{stop} do not hold a "
                                 f"{dtype.name} array of shape {shape} within the file")
        out[name] = np.frombuffer(data, dtype, count=(stop - start) // dtype.itemsize,
                                  offset=start).reshape(shape)
        end = max(end, stop)
    if end != len(data):
        raise ModelFileError(path, f"{len(data) - end} bytes after the last array")
    return out


def load(path, model):
    """Copy the arrays saved in `path` into the model's arrays (in place). Names, dtypes and
    shapes must all match; otherwise nothing changes and the error says what differs."""
    stored, arrays = read(path), named_arrays(model)
    missing, extra = sorted(set(arrays) - set(stored)), sorted(set(stored) - set(arrays))
    if missing or extra:
        raise ModelFileError(path, "the file is for another model: "
                             + "; ".join(p for p in [
                                 f"missing {', '.join(missing)}" if missing else "",
                                 f"unexpected {', '.join(extra)}" if extra else ""] if p))
    for name, a in arrays.items():
        s = stored[name]
        if s.shape != a.shape or s.dtype != a.dtype:
            raise ModelFileError(path, f"{name}: the file has {s.dtype} {s.shape}, the model "
                                 f"{a.dtype} {a.shape}")
    for name, a in arrays.items():
        a[...] = stored[name]
    return model
