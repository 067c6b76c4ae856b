"""Saving and loading a model's arrays in the safetensors format: an 8-byte little-endian header
length, a JSON header naming each tensor's dtype, shape and byte range, then the raw bytes. Other
tools (the `safetensors` package, PyTorch, JAX) read it; nothing in it is executed on loading.

Names are the arrays' paths in the model (`layers.0.weight`). Saving writes a temporary file
beside the target and renames it over (atomic: a crash leaves the old file or the new one).
Loading checks everything (the header, each name, dtype and shape, the byte ranges, the file's
length, and that the model can take the values) before changing the model, so a bad file leaves
the model as it was."""
from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import stat
import struct

import numpy as np

from .. import trees
from ..errors import ZygopyError
from . import sharing

__all__ = ["ModelFileError", "named_arrays", "save", "read", "load"]

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
          "I32": np.int32, "U8": np.uint8, "BOOL": np.bool_}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}
MAX_HEADER = 100 * 1024 * 1024


class ModelFileError(ZygopyError):
    """A parameter file that is corrupt, truncated, not safetensors, or for another model (or
    that the model cannot take: a read-only array, different values for one shared array)."""

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
            sub = (value[i] if node.is_sequence or node.kind == "list"
                   else value[key] if node.kind == "dict" else getattr(value, key))
            walk(child, sub, f"{prefix}.{key}" if prefix else key)

    node, _ = trees.flatten(model)
    walk(node, model, "")
    return out


# ---------------------------------------------------------------------------------------------
# Saving


def save(path, model, metadata=None):
    """Write the model's arrays to `path` (safetensors). `metadata` maps strings to strings (the
    format holds nothing else); any other key or value is refused with a TypeError rather than
    converted, so what is read back is what was given. The file gets the permissions of the file
    it replaces, or those of a newly created file."""
    _check_metadata(metadata or {})
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
    chunks = [struct.pack("<Q", len(text)), text]
    chunks += (np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
               for a in arrays.values())
    _write_atomically(path, chunks)


def _check_metadata(metadata):
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"save: metadata {key!r}: {value!r} is not a string to a string, "
                            "which is all safetensors metadata may hold (convert it with str)")


def _write_atomically(path, chunks):
    """Write the chunks to a new file beside `path`, then rename it over `path`, and sync the
    directory so that the rename itself survives a crash (the file's data was synced first)."""
    fd, tmp = _create_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            with contextlib.suppress(FileNotFoundError):  # keep the replaced file's permissions
                os.fchmod(f.fileno(), stat.S_IMODE(os.stat(path).st_mode))
            for chunk in chunks:
                f.write(chunk)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _sync_directory(os.path.dirname(os.path.abspath(path)))


def _sync_directory(directory):
    """fsync a directory, where the system allows it (not on Windows, nor on some file systems:
    the file is written and renamed either way)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _create_beside(path):
    """(fd, name) of a new, empty file in `path`'s directory. Created with mode 0o666 like any
    new file, so the umask (and any default ACL) decides its permissions, not a private 0o600."""
    directory = os.path.dirname(os.path.abspath(path))
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".tmp-{secrets.token_hex(8)}.safetensors")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {directory}")


# ---------------------------------------------------------------------------------------------
# Reading


def read(path):
    """{name: array} from a safetensors file, every part of it checked."""
    with open(path, "rb") as f:
        blob = f.read()
    header, data = _split(path, blob)
    entries = {name: _entry(path, name, info, len(data)) for name, info in header.items()}
    _check_layout(path, entries, len(data))
    return {name: _array(path, name, data, *entry) for name, entry in entries.items()}


def _split(path, blob):
    """(header without its metadata, data section) of the file's bytes."""
    if len(blob) < 8:
        raise ModelFileError(path, f"{len(blob)} bytes: too short for a safetensors file")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > min(MAX_HEADER, len(blob) - 8):
        raise ModelFileError(path, f"the header claims {n} bytes, the file has {len(blob) - 8} "
                             "after the length (truncated, or not a safetensors file)")
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"), object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        # RecursionError: deeply nested brackets, which json parses by recursion
        raise ModelFileError(path, f"the header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise ModelFileError(path, "the header is not a JSON object")
    header.pop("__metadata__", None)
    return header, blob[8 + n:]


def _unique_keys(pairs):
    """A JSON object as a dict, refusing a repeated name (which would hide one of two entries)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a name appears twice")
    return out


def _entry(path, name, info, data_length):
    """(dtype, shape, start, stop) of one header entry, checked against the format: a known
    dtype, a shape of non-negative integers whose bytes are exactly the range, within the data."""
    try:
        dtype = np.dtype(DTYPES[info["dtype"]]).newbyteorder("<")
        shape, offsets = info["shape"], info["data_offsets"]
    except (KeyError, TypeError):  # TypeError: an info or a dtype that is not a dict or string
        raise ModelFileError(path, f"the entry for {name!r} is malformed: {info!r}") from None
    if not _naturals(shape) or not _naturals(offsets) or len(offsets) != 2:
        raise ModelFileError(path, f"the entry for {name!r} is malformed: {info!r}")
    start, stop = offsets
    # Python ints: an element count such as 2**62 * 4 must not wrap round as an int64 would
    if not start <= stop <= data_length or stop - start != dtype.itemsize * math.prod(shape):
        raise ModelFileError(path, f"{name!r}: bytes {start}..{stop} do not hold a "
                             f"{dtype.name} array of shape {shape} within the file")
    return dtype, tuple(shape), start, stop


def _naturals(value):
    """Whether value is a JSON list of non-negative integers (not booleans, not floats)."""
    return isinstance(value, list) and all(
        type(v) is int and v >= 0 for v in value)


def _check_layout(path, entries, data_length):
    """The arrays' byte ranges must tile the data section: in order from 0, no gap between two,
    no overlap, nothing after the last (as the format requires)."""
    end = 0
    for name, (_, _, start, stop) in sorted(entries.items(), key=lambda e: e[1][2:]):
        if start != end:
            raise ModelFileError(path, f"invalid offset for tensor {name!r}: it starts at byte "
                                 f"{start}, the one before it ends at {end} (a gap or overlap)")
        end = stop
    if end != data_length:
        raise ModelFileError(path, f"{data_length - end} bytes after the last array")


def _array(path, name, data, dtype, shape, start, stop):
    try:
        return np.frombuffer(data, dtype, count=(stop - start) // dtype.itemsize,
                             offset=start).reshape(shape)
    except ValueError as e:  # a shape NumPy cannot make, such as (0, 2**63)
        raise ModelFileError(path, f"{name!r}: shape {list(shape)}: {e}") from None


# ---------------------------------------------------------------------------------------------
# Loading


def load(path, model):
    """Copy the arrays saved in `path` into the model's arrays (in place, so arrays the model
    shares or ties stay so). Names, dtypes and shapes must all match, every array must be
    writeable, and where names share memory in the model (one array in several places, a tied
    view such as `w.T`) the file must hold values that agree on it; otherwise a ModelFileError
    says what differs and nothing changes."""
    stored, arrays = read(path), named_arrays(model)
    _check_names(path, stored, arrays)
    for name, a in arrays.items():
        _check_fits(path, name, stored[name], a)
    _check_shared(path, stored, arrays)
    for name, a in arrays.items():
        a[...] = stored[name]
    return model


def _check_names(path, stored, arrays):
    missing, extra = sorted(set(arrays) - set(stored)), sorted(set(stored) - set(arrays))
    if missing or extra:
        raise ModelFileError(path, "the file is for another model: "
                             + "; ".join(p for p in [
                                 f"missing {', '.join(missing)}" if missing else "",
                                 f"unexpected {', '.join(extra)}" if extra else ""] if p))


def _check_fits(path, name, s, a):
    if s.shape != a.shape or s.dtype != a.dtype:
        raise ModelFileError(path, f"{name}: the file has {s.dtype} {s.shape}, the model "
                             f"{a.dtype} {a.shape}")
    if not a.flags.writeable:
        raise ModelFileError(path, f"{name}: the model's array is read-only")


def _check_shared(path, stored, arrays):
    """Names that share memory in the model (a layer used twice, a tied view) must have values in
    the file that agree on it: otherwise whichever was copied last would silently win."""
    names = list(arrays)
    for group in sharing.groups(list(arrays.values())):
        shared = [names[k] for k in group]
        if not sharing.agree([arrays[n] for n in shared], [stored[n] for n in shared]):
            raise ModelFileError(path, f"{', '.join(shared[:-1])} and {shared[-1]} are one array "
                                 "in the model (or views of one), but the file holds values for "
                                 "them that differ (saved from a model that did not tie them?)")
