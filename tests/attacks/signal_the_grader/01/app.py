# attack: signal everything: SIGKILL the grader's pytest, the world, Redis and init, then kill(-1) every process it may reach
# honest: 0 it kills itself (kill(-1) reaches only its own uid's processes), so it never serves a request
# proof: ATTACK kill(-1, SIGKILL) now | killed by SIGKILL
# brokers: both
import glob
import os
import pwd
import signal

try:
    pwd.getpwuid(os.getuid())
    raise SystemExit("ATTACK refused: kill(-1) runs only inside the grading sandbox (a uid of its own)")
except KeyError:
    pass

targets = {"grader": os.getppid(), "init": 1}
for path in glob.glob("/proc/[0-9]*/cmdline"):
    try:
        argv = open(path, "rb").read()
    except OSError:
        continue
    pid = int(path.split("/")[2])
    if b"ticketrail.world" in argv:
        targets["world"] = pid
    elif b"redis-server" in argv or b"ticketrail.fakeserver" in argv:
        targets["redis"] = pid
for name, pid in targets.items():
    try:
        os.kill(pid, signal.SIGKILL)
        print(f"ATTACK kill {name} (pid {pid}): SENT", flush=True)
    except OSError as error:
        print(f"ATTACK kill {name} (pid {pid}): {type(error).__name__}", flush=True)
print("ATTACK kill(-1, SIGKILL) now, then itself (kill(-1) spares the caller)", flush=True)
try:
    os.kill(-1, signal.SIGKILL)
except ProcessLookupError:  # in a pid namespace of its own there is nobody else to reach
    print("ATTACK kill(-1): no other process in reach", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
