"""A class's submissions, read without trusting them: a folder, a zip or a git checkout per student.

Only the files grading.yml lists as student files are ever read, and only when they are
regular files under a size cap, reached without following a symbolic link. A zip is never
unpacked onto the disk: its listing is checked and the few files needed are read from it.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable

from ticketrail.config import ExerciseSpec

MiB = 1024 * 1024
STUDENT_FILE_CAP = 1 * MiB  # a student's app.py is a few kB; anything this large is not source code
ZIP_SIZE_CAP = 512 * MiB  # the zip file itself
ZIP_ENTRIES_CAP = 20_000
ZIP_UNPACKED_CAP = 2048 * MiB  # the sizes a zip's entries claim, all together
ZIP_RATIO_CAP = 200  # a claimed size this many times the stored size, on an entry above STUDENT_FILE_CAP
# Noise that archivers, editors and git add: never a reason to unwrap a folder or report a file.
JUNK = {"__MACOSX", ".DS_Store", "Thumbs.db", ".git", "__pycache__", ".idea", ".vscode", ".ipynb_checkpoints"}
EXERCISE_ID = re.compile(r"^\d\d$")


class Refused(Exception):
    """A file the kit will not take, with the reason, written for the student."""


class Rejected(Exception):
    """A submission the kit cannot open safely at all (a corrupt zip, a zip bomb)."""


@dataclass(frozen=True)
class Submission:
    student: str  # the folder's or zip's name, ids and all: it is the key in every output
    path: Path
    kind: str  # folder, zip or git

    @property
    def source(self) -> str:
        return self.path.name + ("/" if self.path.is_dir() else "")

    @property
    def identity(self) -> "Identity":
        return identity(self.student)


# --- who handed it in: the names LMS bulk downloads give ----------------------------------------


@dataclass(frozen=True)
class Identity:
    """The student behind a submission's name. The name itself stays the key: it is unique in the folder
    and the same on every download, where a display name is neither."""

    name: str  # as the LMS shows the student: "Kim Nguyen"; Canvas gives only "nguyenkim"
    id: str = ""  # the LMS's participant id, user id or username; empty for a plain folder
    lms: str = ""  # moodle, canvas, blackboard; empty when the name follows none of them
    late: bool = False  # Canvas marks a late submission in its name


# Moodle: "Kim Nguyen_302117_assignsubmission_file_" (a folder per student), or the file's own name after it.
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<id>\d+)_assignsubmission_(?:file|onlinetext)_(?P<file>.*)$")
# Canvas: "nguyenkim_302117_9876543_ticketrail.zip", late ones "nguyenkim_late_302117_9876543_ticketrail.zip".
CANVAS = re.compile(r"^(?P<name>[^_]+?)(?P<late>_late)?_(?P<id>\d+)_(?P<submission>\d+)_(?P<file>.+)$", re.IGNORECASE)
# Blackboard: "Week 9_kimn_attempt_2026-02-14-18-30-00_ticketrail.zip", and a receipt without the file part.
BLACKBOARD = re.compile(r"^(?P<assignment>.+)_(?P<id>[^_]+)_attempt_(?P<date>\d{4}(?:-\d\d){5})(?:_(?P<file>.+))?$")


def identity(student: str) -> Identity:
    """The name and id an LMS bulk download packed into `student` (a folder's or zip's name)."""
    if match := MOODLE.match(student):
        return Identity(match["name"].strip(), match["id"], "moodle")
    if match := BLACKBOARD.match(student):
        return Identity(match["id"], match["id"], "blackboard")
    if match := CANVAS.match(student):
        return Identity(match["name"], match["id"], "canvas", late=bool(match["late"]))
    return Identity(student)


def discover(folder: Path) -> tuple[list[Submission], list[str]]:
    """The submissions in `folder`, by student name, and notes on what was passed over."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of submissions (a folder, zip or git checkout per student)")
    found: dict[str, list[Submission]] = {}
    ignored: list[str] = []
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name in JUNK:
            continue
        if path.is_symlink():
            ignored.append(f"{path.name} (a symbolic link)")
        elif path.is_dir():
            kind = "git" if (path / ".git").exists() else "folder"
            found.setdefault(path.name, []).append(Submission(path.name, path, kind))
        elif path.is_file() and path.suffix.lower() == ".zip":
            found.setdefault(path.stem, []).append(Submission(path.stem, path, "zip"))
        elif path.suffix.lower() == ".txt" and (match := BLACKBOARD.match(path.stem)) and not match["file"]:
            continue  # the receipt Blackboard writes beside each attempt: it holds no work
        else:
            ignored.append(f"{path.name} (neither a folder nor a zip)")
    notes = [f"ignored {', '.join(ignored)}"] if ignored else []
    submissions = []
    for student, candidates in found.items():
        if len(candidates) > 1:
            names = " and ".join(c.source for c in candidates)
            notes.append(f"{student} handed in twice ({names}): not graded until one of them is removed")
            continue
        submissions.append(candidates[0])
    by_person: dict[tuple[str, str], list[str]] = {}
    for submission in submissions:
        who = submission.identity
        if who.lms:
            by_person.setdefault((who.lms, who.id), []).append(submission.student)
    for (lms, person), students in sorted(by_person.items()):
        if len(students) > 1:
            notes.append(f"{lms} id {person} handed in {len(students)} times ({', '.join(sorted(students))}): each is "
                         "graded under its own name; keep the one that counts")
    return sorted(submissions, key=lambda s: s.student), notes


# --- reading a submission ------------------------------------------------------------------


class Tree:
    """A submission's files, as relative POSIX paths; `problems` lists what was refused on opening."""

    problems: list[str]

    def is_dir(self, rel: str) -> bool:
        raise NotImplementedError

    def listdir(self, rel: str) -> list[str]:
        raise NotImplementedError

    def read(self, rel: str) -> bytes | None:
        """The file's bytes; None when there is no such file; raises Refused when it may not be taken."""
        raise NotImplementedError

    def commit(self) -> str | None:
        return None

    def close(self) -> None:
        pass


def open_tree(submission: Submission) -> Tree:
    if submission.kind == "zip":
        return ZipTree(submission.path)
    return FolderTree(submission.path)


class FolderTree(Tree):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems = []

    def _lstat(self, rel: str):
        """lstat of `rel`, refusing a path that passes through a symbolic link; None when absent."""
        path = self.root
        parts = PurePosixPath(rel).parts
        for index, part in enumerate(parts):
            path = path / part
            try:
                info = path.lstat()
            except (FileNotFoundError, NotADirectoryError):
                return None
            if stat.S_ISLNK(info.st_mode):
                where = "/".join(parts[: index + 1])
                raise Refused(f"{where} is a symbolic link; hand in the file itself")
            if index < len(parts) - 1 and not stat.S_ISDIR(info.st_mode):
                return None
        return info

    def is_dir(self, rel: str) -> bool:
        try:
            info = self._lstat(rel) if rel else self.root.lstat()
        except Refused:
            return False
        return info is not None and stat.S_ISDIR(info.st_mode)

    def listdir(self, rel: str) -> list[str]:
        if not self.is_dir(rel):
            return []
        return sorted(entry.name for entry in (self.root / rel).iterdir())

    def read(self, rel: str) -> bytes | None:
        info = self._lstat(rel)
        if info is None or stat.S_ISDIR(info.st_mode):
            return None
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"{rel} is not a regular file (a device, pipe or socket)")
        if info.st_size > STUDENT_FILE_CAP:
            raise Refused(f"{rel} is {info.st_size / MiB:.1f} MiB; a student file may be at most "
                          f"{STUDENT_FILE_CAP / MiB:.0f} MiB")
        with open(self.root / rel, "rb") as handle:
            content = handle.read(STUDENT_FILE_CAP + 1)
        if len(content) > STUDENT_FILE_CAP:
            raise Refused(f"{rel} grew past {STUDENT_FILE_CAP / MiB:.0f} MiB while it was read")
        return content

    def commit(self) -> str | None:
        return git_head(self.root / ".git")


GIT_REF = re.compile(r"^refs/[A-Za-z0-9._/-]{1,200}$")
GIT_SHA = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


def git_head(git_dir: Path) -> str | None:
    """The checked-out commit of a git checkout, read from its files (no git needed).

    The files are the student's: read as root, so never through a link, never a FIFO or a device, never more
    than a few KiB, and only a ref inside refs/ and a commit id that looks like one are believed."""
    head = _small_git_file(git_dir, "HEAD", 4096)
    if head is None:
        return None
    head = head.strip()
    if head.startswith("ref:"):
        ref = head[4:].strip()
        if not GIT_REF.match(ref) or ".." in ref.split("/"):
            return None
        loose = _small_git_file(git_dir, ref, 4096)
        if loose is not None:
            head = loose.strip()
        else:
            packed = _small_git_file(git_dir, "packed-refs", 1024 * 1024) or ""
            head = next((sha for sha, _, name in (line.partition(" ") for line in packed.splitlines())
                         if name.strip() == ref), "")
    return head if GIT_SHA.match(head) else None


def _small_git_file(git_dir: Path, rel: str, cap: int) -> str | None:
    """A regular file under `git_dir`, reached through no link, or None."""
    fd = None
    try:
        fd = os.open(git_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        for part in rel.split("/")[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        file_fd = os.open(rel.split("/")[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        try:
            if not stat.S_ISREG(os.fstat(file_fd).st_mode):
                return None
            return os.read(file_fd, cap + 1)[:cap].decode("ascii", "replace")
        finally:
            os.close(file_fd)
    except OSError:
        return None
    finally:
        if fd is not None:
            os.close(fd)


class ZipTree(Tree):
    def __init__(self, path: Path) -> None:
        self.problems = []
        size = path.stat().st_size
        if size > ZIP_SIZE_CAP:
            raise Rejected(f"{path.name} is {size / MiB:.0f} MiB, above the {ZIP_SIZE_CAP / MiB:.0f} MiB a zip may be")
        try:
            self.zip = zipfile.ZipFile(path)
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise Rejected(f"{path.name} is not a readable zip file ({error})") from None
        if len(infos) > ZIP_ENTRIES_CAP:
            raise Rejected(f"{path.name} holds {len(infos)} entries, above the {ZIP_ENTRIES_CAP} a zip may hold")
        claimed = sum(info.file_size for info in infos)
        if claimed > ZIP_UNPACKED_CAP:
            raise Rejected(f"{path.name} claims {claimed / MiB:.0f} MiB once unpacked (a zip bomb?), above the "
                           f"{ZIP_UNPACKED_CAP / MiB:.0f} MiB allowed")
        for info in infos:
            if info.file_size > STUDENT_FILE_CAP and info.file_size > ZIP_RATIO_CAP * max(info.compress_size, 1):
                raise Rejected(f"{path.name}: entry {info.filename!r} claims {info.file_size / MiB:.0f} MiB from "
                               f"{info.compress_size} bytes (a zip bomb?)")
        self.files: dict[str, zipfile.ZipInfo] = {}
        self.dirs: set[str] = {""}
        for info in infos:
            rel = self._check(info)
            if rel is None:
                continue
            parts = PurePosixPath(rel).parts
            self.dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))
            if info.is_dir():
                self.dirs.add(rel)
            elif rel in self.files:
                self.problems.append(f"zip entry {info.filename!r} appears twice; the last copy was used")
                self.files[rel] = info
            else:
                self.files[rel] = info

    def _check(self, info: zipfile.ZipInfo) -> str | None:
        name = info.filename.replace("\\", "/")
        parts = [part for part in name.split("/") if part not in ("", ".")]
        if not parts or parts[0] in JUNK or parts[-1] in JUNK:
            return None
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
            self.problems.append(f"refused zip entry {info.filename!r}: an absolute path")
            return None
        if ".." in parts:
            self.problems.append(f"refused zip entry {info.filename!r}: it climbs out of the submission (..)")
            return None
        kind = stat.S_IFMT(info.external_attr >> 16)
        if kind == stat.S_IFLNK:
            self.problems.append(f"refused zip entry {info.filename!r}: a symbolic link")
            return None
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            self.problems.append(f"refused zip entry {info.filename!r}: not a regular file")
            return None
        if info.flag_bits & 0x1:
            self.problems.append(f"refused zip entry {info.filename!r}: it is encrypted")
            return None
        return "/".join(parts)

    def is_dir(self, rel: str) -> bool:
        return rel in self.dirs

    def listdir(self, rel: str) -> list[str]:
        prefix = f"{rel}/" if rel else ""
        names = {path[len(prefix):].split("/", 1)[0] for path in [*self.files, *self.dirs] if
                 path.startswith(prefix) and path != rel}
        return sorted(name for name in names if name)

    def read(self, rel: str) -> bytes | None:
        info = self.files.get(rel)
        if info is None:
            return None
        if info.file_size > STUDENT_FILE_CAP:
            raise Refused(f"{rel} is {info.file_size / MiB:.1f} MiB; a student file may be at most "
                          f"{STUDENT_FILE_CAP / MiB:.0f} MiB")
        try:
            return self.zip.read(info)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as error:
            raise Refused(f"{rel} could not be read from the zip ({error})") from None

    def close(self) -> None:
        self.zip.close()


# --- finding an exercise's files in a submission -----------------------------------------------


def content_root(tree: Tree) -> str:
    """Step into a lone wrapper folder (a zip of `alice-main/`): the folder where the work starts."""
    root = ""
    for _ in range(4):
        entries = [name for name in tree.listdir(root) if name not in JUNK and not name.startswith(".")]
        if len(entries) != 1:
            break
        only = f"{root}/{entries[0]}" if root else entries[0]
        if not tree.is_dir(only) or EXERCISE_ID.match(entries[0]) or entries[0] == "starter":
            break
        root = only
    return root


def candidate_folders(root: str, exercise_id: str, flat: bool) -> list[str]:
    """Where an exercise's files may be: NN/, the kit's own starter/NN/ (a GitHub Classroom checkout),
    and the top folder itself when a single exercise is graded."""
    join = (lambda rel: f"{root}/{rel}") if root else (lambda rel: rel)
    folders = [join(exercise_id), join(f"starter/{exercise_id}")]
    return folders + [root] if flat else folders


@dataclass
class Handin:
    """What one submission hands in for one exercise: the student files found, and what is wrong with them."""

    exercise: str
    folder: str | None  # where the files were found, e.g. "01" or "starter/01"; None when nowhere
    files: dict[str, bytes] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    looked_in: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)  # what the folder held instead, to help find a misnamed file
    misnamed: dict[str, str] = field(default_factory=dict)  # a missing file → the file that looks like it

    @property
    def complete(self) -> bool:
        return not self.missing

    def digest(self) -> str:
        hasher = hashlib.sha256()
        for name in sorted(self.files):
            hasher.update(f"{name}\0{hashlib.sha256(self.files[name]).hexdigest()}\0".encode())
        for name in sorted(self.missing):
            hasher.update(f"missing {name}\0".encode())
        return hasher.hexdigest()

    def file_digests(self) -> dict[str, str]:
        return {name: hashlib.sha256(content).hexdigest() for name, content in sorted(self.files.items())}

    def explain_missing(self) -> str:
        where = ", ".join(f"{folder}/" if folder else "the top folder" for folder in self.looked_in)
        lines = [f"{', '.join(self.missing)} {'is' if len(self.missing) == 1 else 'are'} missing from the "
                 f"submission for exercise {self.exercise} (looked in {where})."]
        for wanted, found in self.misnamed.items():
            lines.append(f"Found `{found}`; the exercise wants `{wanted}`: rename it to {wanted} and hand it in again.")
        others = [name for name in self.seen if name not in self.misnamed.values()]
        if others:
            lines.append(f"Found there {'also' if self.misnamed else 'instead'}: {', '.join(others[:12])}"
                         f"{' …' if len(others) > 12 else ''}.")
        lines += self.refused
        lines.append("This exercise scores 0; hand in the files under these exact names.")
        return "\n".join(lines)


def find_handin(tree: Tree, spec: ExerciseSpec, flat: bool) -> Handin:
    root = content_root(tree)
    folders = candidate_folders(root, spec.id, flat)
    chosen = next((folder for folder in folders
                   if (not folder or tree.is_dir(folder)) and _holds_any(tree, folder, spec.student_files)), None)
    handin = Handin(spec.id, chosen, looked_in=folders)
    if chosen is None:
        handin.missing = list(spec.student_files)
        existing = next((folder for folder in folders if folder and tree.is_dir(folder)), root)
        handin.seen = [name for name in tree.listdir(existing) if name not in JUNK]
        handin.misnamed = look_alikes(handin.missing, handin.seen, spec.student_files)
        return handin
    for name in spec.student_files:
        rel = f"{chosen}/{name}" if chosen else name
        try:
            content = tree.read(rel)
        except Refused as refusal:
            handin.refused.append(f"Refused {rel}: {refusal}")
            handin.missing.append(name)
            continue
        if content is None:
            handin.missing.append(name)
        else:
            handin.files[name] = content
    if handin.missing:
        handin.seen = [name for name in tree.listdir(chosen) if name not in JUNK]
        handin.misnamed = look_alikes(handin.missing, handin.seen, spec.student_files)
    return handin


def look_alikes(missing: list[str], seen: list[str], wanted: Iterable[str]) -> dict[str, str]:
    """For each missing file, the file in `seen` the student most likely meant: the same name in another case
    (`App.py`), a copy's name (`app (1).py`, `app.py.txt`), a typo (`wroker.py`); and when one Python file
    is missing and one unexpected Python file is there, that one (`main.py` for `app.py`)."""
    strays = [name for name in seen if name not in set(wanted)]
    found: dict[str, str] = {}
    for name in missing:
        stem = PurePosixPath(name).stem.lower()
        close = [other for other in strays if other not in found.values() and (
            other.lower() == name.lower() or other.lower().startswith((f"{stem} ", f"{stem}-", f"{stem}_",
                                                                       f"{stem}(", f"{name.lower()}.")))]
        close = close or difflib.get_close_matches(name, [o for o in strays if o not in found.values()], 1, 0.8)
        if close:
            found[name] = close[0]
    unpaired = [name for name in missing if name not in found]
    python = [other for other in strays if other.endswith(".py") and other not in found.values()]
    if len(unpaired) == 1 and unpaired[0].endswith(".py") and len(python) == 1:
        found[unpaired[0]] = python[0]
    return found


def _holds_any(tree: Tree, folder: str, names: Iterable[str]) -> bool:
    listing = set(tree.listdir(folder))
    return any(PurePosixPath(name).parts[0] in listing for name in names)


def has_exercise_folder(tree: Tree, exercise_id: str) -> bool:
    root = content_root(tree)
    return any(tree.is_dir(folder) for folder in candidate_folders(root, exercise_id, flat=False))
