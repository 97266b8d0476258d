"""The runtime: an interpreter any uid can run, with the kit's packages, hard-linked under a root-owned folder.

A venv's interpreter often lives under /root (0700), which the sandbox's uid could not even execute.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ticketrail import procs
from ticketrail.sandbox.errors import SandboxError

RUNTIME_KEEP_SECONDS = 6 * 3600  # every change to the harness makes a new runtime: an old one goes after this long unused
# Not needed by any program of the kit, and the biggest parts of a standard library.
STDLIB_SKIP = {"site-packages", "test", "idlelib", "tkinter", "turtledemo", "ensurepip", "__phello__"}
SITE_SKIP_PREFIXES = ("__editable__", "ticketrail", "pip", "setuptools", "_distutils_hack", "pkg_resources")
# What a student program needs; the check runs them as the uid before the first test.
RUNTIME_IMPORTS = "ticketrail.shop, ticketrail.shop.sync, ticketrail.childcall, fastapi, uvicorn, redis, httpx, freezegun"


def runtime_python(root: Path, user: tuple[int, int]) -> str:
    """An interpreter any user can run, with the kit's packages: built (and tried as `user`) once per
    interpreter, set of packages and version of the harness."""
    sources = _RuntimeSources.find()
    target = root / f"runtime-{sources.fingerprint()}"
    ready = target / "READY"
    if not ready.exists():
        _build_runtime(root, target, sources, user)
    os.utime(ready)
    _forget_old_runtimes(root, keep=target)
    return str(target / "bin" / sources.executable.name)


@dataclass
class _RuntimeSources:
    executable: Path
    base: Path
    stdlib: Path
    site: Path
    package: Path

    @classmethod
    def find(cls) -> "_RuntimeSources":
        import ticketrail

        paths = sysconfig.get_paths()
        return cls(Path(os.path.realpath(sys.executable)), Path(sys.base_prefix), Path(paths["stdlib"]),
                   Path(paths["purelib"]), Path(ticketrail.__file__).resolve().parent)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{sys.version}\0{self.executable}\0{self.site}\0".encode())
        for path in [self.executable, *sorted(self.site.iterdir())]:
            info = path.stat()
            digest.update(f"{path.name}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
        for path in sorted(self.package.rglob("*")):
            if "__pycache__" not in path.parts:
                info = path.stat()
                digest.update(f"{path.relative_to(self.package)}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
        return digest.hexdigest()[:16]

    @property
    def libraries(self) -> list[Path]:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        return sorted((self.base / "lib").glob(f"libpython{version}*.so*"))


def _build_runtime(root: Path, target: Path, sources: _RuntimeSources, user: tuple[int, int]) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    try:
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        lib = staging / "lib"
        stdlib, site = lib / version, lib / version / "site-packages"
        for folder in (staging / "bin", lib):
            folder.mkdir()
        _install_interpreter(sources.executable, staging / "bin" / sources.executable.name, sources.base)
        for alias in ("python3", "python"):
            if alias != sources.executable.name:
                os.symlink(sources.executable.name, staging / "bin" / alias)
        for library in sources.libraries:
            _link(library, lib / library.name)
        _link_tree(sources.stdlib, stdlib, lambda name: name in STDLIB_SKIP)
        _link_tree(sources.site, site, lambda name: name.startswith(SITE_SKIP_PREFIXES) or name.endswith(".pth")
                   or name == "__pycache__")
        _link_tree(sources.package, site / "ticketrail", lambda name: name == "__pycache__")
        # Its programs run with -B and the kit's source tree may hold no bytecode (PYTHONDONTWRITEBYTECODE): without
        # this, every world, broker and student program would compile the kit's modules again at start. In a process
        # of its own, with -E: this one's PYTHONPYCACHEPREFIX (bytecode.kept) would send the files to the kit's cache.
        compiled = subprocess.run([sys.executable, "-E", "-m", "compileall", "-q", str(site / "ticketrail")],
                                  capture_output=True, text=True)
        if compiled.returncode != 0:
            raise SandboxError(f"the kit's modules in {site / 'ticketrail'} do not compile:\n{compiled.stdout[-2000:]}")
        for folder, _, _ in os.walk(staging):
            os.chmod(folder, 0o755)
        check_runtime(str(staging / "bin" / sources.executable.name), *user)
        (staging / "READY").touch()
        try:
            os.rename(staging, target)
        except OSError:  # another run built the same runtime meanwhile
            if not (target / "READY").exists():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _install_interpreter(source: Path, target: Path, base: Path) -> None:
    """Copy the interpreter; a library path baked in as the absolute base (unreadable to the uid) becomes
    $ORIGIN/../lib, rewritten in place in the ELF string table (the new string is shorter; NULs pad it)."""
    data = source.read_bytes()
    old = f"\0{base / 'lib'}\0".encode()
    new = b"\0$ORIGIN/../lib\0"
    if data.count(old) == 1 and len(new) <= len(old):
        data = data.replace(old, new + b"\0" * (len(old) - len(new)))
    target.write_bytes(data)
    os.chmod(target, 0o755)


def _link(source: Path, target: Path) -> None:
    if source.is_symlink() and not os.path.isabs(os.readlink(source)):
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target, follow_symlinks=True)
    except OSError:  # another file system, or links refused: a copy does as well
        shutil.copy2(source, target)


def _link_tree(source: Path, target: Path, skip: Callable[[str], bool]) -> None:
    target.mkdir(exist_ok=True)
    for entry in os.scandir(source):
        if skip(entry.name):
            continue
        if entry.is_dir():
            _link_tree(Path(entry.path), target / entry.name, lambda name: False)
        elif entry.is_file():
            _link(Path(entry.path), target / entry.name)


def _forget_old_runtimes(root: Path, keep: Path) -> None:
    now = time.time()
    for path in root.glob("runtime-*"):
        try:
            if path != keep and now - (path / "READY").stat().st_mtime > RUNTIME_KEEP_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue
    for path in root.glob(".build-*"):
        try:
            if now - path.stat().st_mtime > 3600:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


def check_runtime(python: str, uid: int, gid: int) -> None:
    """Run the interpreter as the uid: it must start and import what student programs use."""
    done = subprocess.run(
        [python, "-E", "-s", "-B", "-c", f"import {RUNTIME_IMPORTS}; print('ok')"],
        cwd="/", env={"PATH": "/usr/bin:/bin", "HOME": "/", "LANG": "C.UTF-8"}, capture_output=True, text=True,
        timeout=120, preexec_fn=procs.limits_preexec(procs.STUDENT_LIMITS, (uid, gid)),
    )
    if done.returncode != 0 or done.stdout.strip() != "ok":
        raise SandboxError(f"the runtime {python} does not work as uid {uid}:\n{(done.stdout + done.stderr)[-2000:]}")
