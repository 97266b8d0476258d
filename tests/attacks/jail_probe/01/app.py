# attack: look around from inside: every process, path, socket and other user's file it can find
# honest: 0 it never serves an app: it reports what it saw and stops
# proof: JAIL-PROBE
"""What a jailed program can see, reported as one JSON line; tests/test_attacks.py checks it against the jail."""

import json
import os
import stat

SKIP = {"/proc", "/sys", "/dev", "/usr"}


def walk(top):
    for folder, folders, files in os.walk(top, onerror=lambda error: None):
        folders[:] = [name for name in folders if os.path.join(folder, name) not in SKIP]
        for name in folders + files:
            yield os.path.join(folder, name)


def main():
    me = os.getuid()
    seen = {"uid": me, "processes": [], "top": sorted(os.listdir("/")), "sockets": [], "foreign": [],
            "writable": []}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    seen["processes"].append(cmdline.read().replace(b"\0", b" ").decode(errors="replace")[:200])
            except OSError:
                seen["processes"].append(f"pid {entry} (unreadable)")
    for path in walk("/"):
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISSOCK(info.st_mode):
            seen["sockets"].append(path)
        if info.st_uid not in (me, 0, 65534):
            seen["foreign"].append(f"{path} (uid {info.st_uid})")
        if os.access(path, os.W_OK) and not path.startswith(("/tmp", "/var/tmp", "/dev/shm", "/run", os.getcwd())):
            seen["writable"].append(path)
    print("JAIL-PROBE " + json.dumps(seen), flush=True)
    raise SystemExit("the probe has looked around")


main()
