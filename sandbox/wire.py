"""The RPC wire format shared by the host and the in-sandbox runner.

A frame is a 4-byte big-endian body length, then the body: a 4-byte length of the JSON part,
the UTF-8 JSON, then the raw bytes of any numpy arrays. In the JSON an array is
``{"__ndarray__": [dtype, shape, offset, nbytes]}`` pointing into those bytes (no base64, so
a 1 MB array costs two memory copies, not an encoding pass). Nothing is ever unpickled.

This module is stdlib-only (numpy is imported only when an array is actually met) because
it is copied next to ``runner.py`` into every sandbox, where the project is not installed.
"""

from __future__ import annotations

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


def _to_plain(value: Any, blobs: list[bytes]) -> Any:
    """Turn ``value`` into something ``json`` can write; arrays go to ``blobs``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_to_plain(v, blobs) for v in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise WireError(f"dict keys must be str, got {type(key).__name__}")
            if key == ARRAY_TAG:
                raise WireError(f"dict key {ARRAY_TAG!r} is reserved")
            out[key] = _to_plain(item, blobs)
        return out
    if _is_ndarray(value):
        if value.dtype.hasobject:
            raise WireError("numpy arrays of dtype object cannot cross the sandbox")
        data = value.tobytes(order="C")
        offset = sum(len(b) for b in blobs)
        blobs.append(data)
        return {ARRAY_TAG: [value.dtype.str, list(value.shape), offset, len(data)]}
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return _to_plain(value.item(), blobs)  # numpy scalar -> Python scalar
    raise WireError(f"cannot send a value of type {type(value).__name__}")


def _from_plain(value: Any, blobs: memoryview) -> Any:
    if isinstance(value, list):
        return [_from_plain(v, blobs) for v in value]
    if isinstance(value, dict):
        if ARRAY_TAG in value:
            return _decode_array(value[ARRAY_TAG], blobs)
        return {k: _from_plain(v, blobs) for k, v in value.items()}
    return value


def _decode_array(spec: Any, blobs: memoryview) -> Any:
    import numpy

    try:
        dtype_str, shape, offset, nbytes = spec
        dtype = numpy.dtype(dtype_str)
        if dtype.hasobject:
            raise WireError("numpy arrays of dtype object cannot cross the sandbox")
        if not (0 <= offset and 0 <= nbytes and offset + nbytes <= len(blobs)):
            raise WireError("array bytes lie outside the frame")
        data = blobs[offset : offset + nbytes]
        return numpy.frombuffer(data, dtype=dtype).reshape([int(n) for n in shape]).copy()
    except WireError:
        raise
    except (TypeError, ValueError) as exc:
        raise WireError(f"malformed array: {exc}") from None


def dumps(message: Any) -> bytes:
    """Encode one message as a complete frame (header + JSON body)."""
    blobs: list[bytes] = []
    text = json.dumps(_to_plain(message, blobs), separators=(",", ":")).encode()
    size = HEADER.size + len(text) + sum(len(b) for b in blobs)
    if size > MAX_FRAME:
        raise WireError(f"message of {size} bytes exceeds the {MAX_FRAME} byte frame limit")
    return b"".join([HEADER.pack(size), HEADER.pack(len(text)), text, *blobs])


def frame_length(header: bytes) -> int:
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME:
        raise WireError(f"frame of {length} bytes exceeds the {MAX_FRAME} byte limit")
    return int(length)


def loads(body: bytes) -> Any:
    """Decode one frame body (without its header)."""
    if len(body) < HEADER.size:
        raise WireError("frame body is shorter than its header")
    (text_size,) = HEADER.unpack_from(body)
    end = HEADER.size + text_size
    if end > len(body):
        raise WireError("frame's JSON part runs past its end")
    view = memoryview(body)
    try:
        plain = json.loads(view[HEADER.size : end].tobytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"frame is not JSON: {exc}") from None
    return _from_plain(plain, view[end:])
