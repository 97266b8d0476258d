"""A network of the run's own: a private loopback, nothing else, and private System V IPC."""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct

from ticketrail._libc import CLONE_NEWIPC, CLONE_NEWNET, libc


def isolate_network() -> str | None:
    """Give this process, and every program it starts from now on, a network of its own (a private loopback,
    nothing else) and private System V IPC. None when done, else why not (the caller says what that leaves open)."""
    if libc.unshare(CLONE_NEWNET | CLONE_NEWIPC) != 0:
        return os.strerror(ctypes.get_errno())
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))
    return None
