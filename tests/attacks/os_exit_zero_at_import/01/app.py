# attack: os._exit(0) at import (no clean-up, no report), after an atexit hook meant to rewrite results
# honest: 0 the program never serves a request; os._exit skips even its own atexit hook
# proof: exited with code 0
import atexit
import os

atexit.register(lambda: print("ATTACK atexit hook ran (it should not: os._exit skips it)"))
print("ATTACK os._exit(0) at import")
os._exit(0)
