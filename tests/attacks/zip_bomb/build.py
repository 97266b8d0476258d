# attack: a zip bomb: 01/app.py claims 256 MiB that deflate from a few hundred kB
# honest: 0 the zip is rejected before anything is unpacked
# proof: zip bomb
"""Builds the submission: the bomb is made at build time, never kept in the repository."""

import zipfile
from pathlib import Path


def build(dest: Path, kit: Path) -> Path:
    path = dest / "zip_bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as bomb:
        with bomb.open("01/app.py", "w", force_zip64=True) as entry:
            block = b"#" * (1024 * 1024)
            for _ in range(256):
                entry.write(block)
    return path
