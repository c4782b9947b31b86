"""The RPC contract of a session, on both backends: state, map, arrays, errors, timing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

from sandbox.base import CandidateCrashed, CandidateError, Limits, Sandbox, Session
from tests.sandbox_support import labelled_containers, open_backend

CANDIDATE = """
import time
import numpy as np
from helper import double

_calls = {"n": 0}

class Policy:
    def __init__(self, bias):
        self.bias = bias
    def act(self, x):
        return x + self.bias

_policies = {}

def make_policy(key, bias):
    _policies[key] = Policy(bias)
    return key

def act(key, x):
    return _policies[key].act(x)

def count():
    _calls["n"] += 1
    return _calls["n"]

def scale(array, factor):
    return array * factor

def describe(array):
    return {"dtype": str(array.dtype), "shape": list(array.shape), "sum": float(array.sum())}

def mixed():
    return {"tuple": (1, 2), "nested": [{"a": None, "b": True}], "np_int": np.int64(7),
            "np_float": np.float32(0.5), "text": "ünïcode"}

def fail_on(x):
    if x == 3:
        raise ValueError(f"three is not allowed ({x})")
    return double(x)

def not_plain():
    return {1, 2, 3}

def quit():
    raise SystemExit(4)

def nap(seconds):
    time.sleep(seconds)
    return seconds

def talk(text):
    print(text)
    import sys
    print("to stderr", file=sys.stderr)
    return len(text)
"""
HELPER = "def double(x):\n    return 2 * x\n"
WIRE_CLASH = "def hello():\n    return 'the candidate owns wire.py'\n"
NAMES = [
    "make_policy", "act", "count", "scale", "describe", "mixed", "fail_on",
    "not_plain", "quit", "nap", "talk",
]  # fmt: skip
FILES = {"candidate.py": CANDIDATE, "helper.py": HELPER, "wire.py": WIRE_CLASH}


@pytest.fixture(
    scope="module", params=["process", pytest.param("docker", marks=pytest.mark.docker)]
)
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    box = open_backend(request.param)
    yield box
    box.close()


@pytest.fixture(scope="module")
def session(sandbox: Sandbox) -> Iterator[Session]:
    with sandbox.open(FILES, "candidate", NAMES, Limits(output_bytes=1000)) as s:
        yield s


def test_state_persists_across_calls(session: Session) -> None:
    first = session.call("count")
    assert session.call("count") == first + 1
    session.call("make_policy", "a", 10)
    session.call("make_policy", "b", -1)
    assert session.map("act", [("a", 1), ("b", 1), ("a", 5)]) == [11, 0, 15]


def test_map_runs_many_calls_in_one_round_trip_in_order(session: Session) -> None:
    start = session.call("count")
    assert session.map("count", [()] * 100) == list(range(start + 1, start + 101))
    assert session.map("count", []) == []


def test_arrays_cross_as_dtype_shape_and_bytes(session: Session) -> None:
    for array in (
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.array([[True, False]]),
        np.arange(5, dtype=np.int64)[::2],  # not contiguous
        np.zeros((0, 3)),
    ):
        back = session.call("scale", array, 2)
        assert isinstance(back, np.ndarray)
        assert back.dtype == (array * 2).dtype and back.shape == array.shape
        np.testing.assert_array_equal(back, array * 2)
    assert session.call("describe", np.ones(()))["shape"] == []  # 0-d arrays stay arrays
    big = np.random.default_rng(0).standard_normal(131_072)  # 1 MB
    assert session.call("describe", big)["sum"] == pytest.approx(float(big.sum()))


def test_plain_values_round_trip(session: Session) -> None:
    assert session.call("mixed") == {
        "tuple": [1, 2],
        "nested": [{"a": None, "b": True}],
        "np_int": 7,
        "np_float": 0.5,
        "text": "ünïcode",
    }


def test_candidate_exception_has_type_message_and_its_own_traceback(session: Session) -> None:
    with pytest.raises(CandidateError) as info:
        session.call("fail_on", 3)
    err = info.value
    assert err.exc_type == "ValueError" and "three is not allowed (3)" in err.exc_message
    assert 'File "candidate.py"' in err.traceback and "fail_on" in err.traceback
    assert "runner.py" not in err.traceback
    assert session.call("fail_on", 2) == 4  # the session survives its candidate's exceptions


def test_map_reports_which_call_raised(session: Session) -> None:
    with pytest.raises(CandidateError) as info:
        session.map("fail_on", [(1,), (2,), (3,), (4,)])
    assert info.value.index == 2 and "(call 2)" in str(info.value)


def test_unplain_results_and_system_exit_are_candidate_errors(session: Session) -> None:
    with pytest.raises(CandidateError, match="cannot send a value of type set"):
        session.call("not_plain")
    with pytest.raises(CandidateError) as info:
        session.call("quit")
    assert info.value.exc_type == "SystemExit"
    assert session.call("fail_on", 1) == 2


def test_only_listed_functions_can_be_called(session: Session) -> None:
    with pytest.raises(CandidateError, match="not one of the callable functions"):
        session.call("double", 2)


def test_timing_is_measured_on_the_host(session: Session) -> None:
    session.call("nap", 0.05)
    assert 0.045 <= session.last_call_seconds < 1.0
    session.call("count")
    assert session.last_call_seconds < 0.045


def test_output_is_captured_separately_and_truncated(session: Session) -> None:
    assert session.call("talk", "hello from the candidate") == 24
    out = session.output()
    assert "hello from the candidate" in out.stdout + out.stderr
    assert "to stderr" in out.stderr
    session.call("talk", "z" * 5000)
    out = session.output()
    assert out.truncated and len(out.stdout) <= 1000 and len(out.stderr) <= 1000


def test_a_candidate_file_named_wire_is_its_own(sandbox: Sandbox) -> None:
    with sandbox.open({"wire.py": WIRE_CLASH}, "wire", ["hello"]) as s:
        assert s.call("hello") == "the candidate owns wire.py"


def test_load_errors_are_candidate_errors(sandbox: Sandbox) -> None:
    with pytest.raises(CandidateError, match="failed to load") as info:
        sandbox.open({"broken.py": "def f(:\n"}, "broken", ["f"])
    assert info.value.exc_type == "SyntaxError"
    with pytest.raises(CandidateError, match="has no function 'g'"):
        sandbox.open({"ok.py": "def f():\n    return 1\n"}, "ok", ["f", "g"])
    with pytest.raises(CandidateError, match="ZeroDivisionError|division"):
        sandbox.open({"bad.py": "x = 1 / 0\n"}, "bad", [])


def test_a_slow_import_is_a_timeout_at_start(sandbox: Sandbox) -> None:
    from sandbox.base import CandidateTimeout

    started = time.monotonic()
    with pytest.raises(CandidateTimeout, match="loading the candidate"):
        sandbox.open({"slow.py": "while True:\n    pass\n"}, "slow", [], Limits(start_timeout=1))
    assert time.monotonic() - started < 5


def test_file_names_cannot_escape_the_workspace(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="escapes"):
        sandbox.open({"../evil.py": "x = 1\n"}, "evil", [])


def test_close_is_idempotent_and_ends_the_session(sandbox: Sandbox) -> None:
    s = sandbox.open(FILES, "candidate", NAMES)
    s.close()
    s.close()
    with pytest.raises(CandidateCrashed, match="already ended"):
        s.call("count")
    container = getattr(s, "container_id", None)
    if container is not None:
        from sandbox.docker import LABEL

        assert not any(container.startswith(c) for c in labelled_containers(LABEL))
