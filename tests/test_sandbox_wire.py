"""The frame format shared by the host and the runner."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sandbox import wire


def roundtrip(value: object) -> object:
    frame = wire.dumps(value)
    assert wire.frame_length(frame[: wire.HEADER.size]) == len(frame) - wire.HEADER.size
    return wire.loads(frame[wire.HEADER.size :])


def test_plain_values_survive_and_tuples_become_lists() -> None:
    value = {"a": [1, 2.5, None, True, "x"], "b": (3, {"c": []}), "d": float("inf")}
    assert roundtrip(value) == {
        "a": [1, 2.5, None, True, "x"],
        "b": [3, {"c": []}],
        "d": float("inf"),
    }


@pytest.mark.parametrize(
    "dtype", ["float64", "float32", "int8", "uint16", "int64", "bool", "<c16", ">i4"]
)
def test_arrays_keep_dtype_shape_and_bytes(dtype: str) -> None:
    array = (np.arange(24) % 3).astype(dtype).reshape(2, 3, 4)
    back = roundtrip({"x": [array.T]})
    out = back["x"][0]  # type: ignore[index]
    assert out.dtype == array.dtype and out.shape == (4, 3, 2)
    np.testing.assert_array_equal(out, array.T)
    assert out.flags.writeable


def test_numpy_scalars_become_python_scalars() -> None:
    assert roundtrip([np.int32(3), np.float64(0.25), np.bool_(True)]) == [3, 0.25, True]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1: "x"}, "dict keys must be str"),
        ({wire.ARRAY_TAG: 1}, "reserved"),
        (np.array([object()]), "dtype object"),
        ({1, 2}, "cannot send a value of type set"),
        (b"bytes", "cannot send a value of type bytes"),
    ],
)
def test_values_that_cannot_cross_are_refused(value: object, message: str) -> None:
    with pytest.raises(wire.WireError, match=message):
        wire.dumps(value)


def test_garbage_is_a_wire_error_never_a_crash() -> None:
    with pytest.raises(wire.WireError, match="exceeds"):
        wire.frame_length(b"\xff\xff\xff\xff")
    with pytest.raises(wire.WireError, match="not JSON"):
        wire.loads(b"\x00\x00\x00\x09\x80not json")
    with pytest.raises(wire.WireError, match="shorter than its header"):
        wire.loads(b"\x00")
    with pytest.raises(wire.WireError, match="runs past its end"):
        wire.loads(b"\x00\x00\x00\x09{}")
    for spec in (
        ["<f8", [2], 0, 8],  # 8 bytes for 2 float64
        ["<f8", [1], 0, 16],  # more bytes than the frame holds
        ["<f8", [1], -8, 8],
        ["|O", [1], 0, 8],
        "nonsense",
    ):
        text = json.dumps({wire.ARRAY_TAG: spec}).encode()
        body = wire.HEADER.pack(len(text)) + text + bytes(8)
        with pytest.raises(wire.WireError):
            wire.loads(body)
