"""Isolation backends: the only place where candidate code ever runs."""

from __future__ import annotations

from sandbox.base import (
    CandidateCrashed,
    CandidateError,
    CandidateTimeout,
    Limits,
    ProtocolError,
    Sandbox,
    SandboxError,
    SandboxUnavailable,
    Session,
)

__all__ = [
    "CandidateCrashed",
    "CandidateError",
    "CandidateTimeout",
    "Limits",
    "ProtocolError",
    "Sandbox",
    "SandboxError",
    "SandboxUnavailable",
    "Session",
]
