"""The RPC wire format shared by the host and the in-sandbox runner.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON. Values
are JSON with one extension: a numpy array travels as ``{"__ndarray__": [dtype, shape,
base64 bytes]}``, so neither side ever unpickles anything.

This module is stdlib-only (numpy is imported only when an array is actually met) because
it is copied next to ``runner.py`` into every sandbox, where the project is not installed.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 512 * 1024 * 1024  # refuse anything bigger than this: it is garbage, not data
ARRAY_TAG = "__ndarray__"


class WireError(ValueError):
    """A value that cannot be encoded, or bytes that are not a valid frame."""


def _is_ndarray(value: object) -> bool:
    # Checking the type's module avoids importing numpy for plain-data traffic.
    return type(value).__module__ == "numpy" and type(value).__name__ == "ndarray"


def _to_plain(value: Any) -> Any:
    """Turn ``value`` into something ``json`` can write; arrays become tagged dicts."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise WireError(f"dict keys must be str, got {type(key).__name__}")
            if key == ARRAY_TAG:
                raise WireError(f"dict key {ARRAY_TAG!r} is reserved")
            out[key] = _to_plain(item)
        return out
    if _is_ndarray(value):
        if value.dtype.hasobject:
            raise WireError("numpy arrays of dtype object cannot cross the sandbox")
        data = value.tobytes(order="C")
        return {ARRAY_TAG: [value.dtype.str, list(value.shape), base64.b64encode(data).decode()]}
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return _to_plain(value.item())  # numpy scalar -> Python scalar
    raise WireError(f"cannot send a value of type {type(value).__name__}")


def _from_plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_from_plain(v) for v in value]
    if isinstance(value, dict):
        if ARRAY_TAG in value:
            return _decode_array(value[ARRAY_TAG])
        return {k: _from_plain(v) for k, v in value.items()}
    return value


def _decode_array(spec: Any) -> Any:
    import numpy

    try:
        dtype_str, shape, b64 = spec
        dtype = numpy.dtype(dtype_str)
        if dtype.hasobject:
            raise WireError("numpy arrays of dtype object cannot cross the sandbox")
        data = base64.b64decode(b64, validate=True)
        return numpy.frombuffer(data, dtype=dtype).reshape([int(n) for n in shape]).copy()
    except WireError:
        raise
    except (TypeError, ValueError) as exc:
        raise WireError(f"malformed array: {exc}") from None


def dumps(message: Any) -> bytes:
    """Encode one message as a complete frame (header + JSON body)."""
    body = json.dumps(_to_plain(message), separators=(",", ":")).encode()
    if len(body) > MAX_FRAME:
        raise WireError(f"message of {len(body)} bytes exceeds the {MAX_FRAME} byte frame limit")
    return HEADER.pack(len(body)) + body


def frame_length(header: bytes) -> int:
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME:
        raise WireError(f"frame of {length} bytes exceeds the {MAX_FRAME} byte limit")
    return int(length)


def loads(body: bytes) -> Any:
    """Decode one frame body (without its header)."""
    try:
        return _from_plain(json.loads(body))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"frame is not JSON: {exc}") from None
