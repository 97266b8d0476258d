"""The C library calls the harness makes that Python does not wrap (prctl, unshare)."""

from __future__ import annotations

import ctypes

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
libc = ctypes.CDLL(None, use_errno=True)


def die_with_parent(signum: int) -> None:
    """In a child before exec: get `signum` when the process that started it dies (set after any change of uid,
    which clears it)."""
    libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
