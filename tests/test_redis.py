"""Each backend gives a private, empty Redis that separate processes share, blocking reads included."""

import subprocess
import sys
import time

import pytest

from ticketrail.redisd import start_redis

BRPOP_IN_A_CHILD = """
import redis, sys
r = redis.Redis.from_url(sys.argv[1], decode_responses=True)
print(r.brpop("jobs:email", timeout=20)[1])
"""


@pytest.mark.parametrize("backend", ["server", "embedded"])
def test_a_blocked_reader_in_another_process_gets_the_job(backend):
    handle = start_redis(backend)
    try:
        child = subprocess.Popen([sys.executable, "-c", BRPOP_IN_A_CHILD, handle.url], stdout=subprocess.PIPE, text=True)
        with handle.client() as r:
            deadline = time.monotonic() + 10
            while r.client_list() and len(r.client_list()) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            r.lpush("jobs:email", "ticket-47")
        out, _ = child.communicate(timeout=20)
        assert out.strip() == "ticket-47"
    finally:
        handle.stop()


@pytest.mark.parametrize("backend", ["server", "embedded"])
def test_flush_leaves_an_empty_database(backend):
    handle = start_redis(backend)
    try:
        with handle.client() as r:
            r.set("left:over", "1")
            handle.flush()
            assert r.dbsize() == 0
    finally:
        handle.stop()


def test_an_unknown_backend_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="'server', 'embedded' or a redis:// URL"):
        start_redis("memcached")
