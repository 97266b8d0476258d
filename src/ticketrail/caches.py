"""Where the kit keeps, on this machine, what outlives one run."""

from __future__ import annotations

import os
from pathlib import Path

ROOT_CACHE = Path("/var/cache/ticketrail")


def cache_folder(name: str) -> Path:
    """As root, a folder under /var/cache/ticketrail, root's alone (student programs run as other uids); otherwise
    the user's own cache, where a student's programs already run as the user and no other user writes."""
    if os.geteuid() == 0:
        return ROOT_CACHE / name
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "ticketrail" / name
