"""The C library calls the sandbox makes that Python does not wrap."""

from __future__ import annotations

import ctypes

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
CLONE_NEWNET = 0x40000000
CLONE_NEWIPC = 0x08000000
libc = ctypes.CDLL(None, use_errno=True)
