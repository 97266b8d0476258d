"""fakeredis over TCP in a process of its own, so that separate programs share one fake Redis."""

from __future__ import annotations

import argparse
import signal
import sys

from fakeredis import TcpFakeServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ticketrail.fakeserver")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    server = TcpFakeServer(("127.0.0.1", options.port), server_type="redis")
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.serve_forever(poll_interval=0.05)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
