# attack: 128 MiB to stdout and stderr at import, then a crash, so that the feedback drowns in output
# honest: 0 the program never serves a request; its log keeps a head and a tail, so its last words stay readable
# proof: MiB of output was dropped | last words after the flood
import sys

LINE = "ATTACK flooding " + "x" * 1000 + "\n"
for stream in (sys.stdout, sys.stderr):
    for _ in range(64 * 1024):  # 64 MiB each
        stream.write(LINE)
    stream.flush()
print("ATTACK last words after the flood: every write succeeded")
raise SystemExit(3)
