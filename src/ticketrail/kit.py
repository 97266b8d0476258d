"""Where things are: the kit's folders, an exercise's id, the implementation under test.

`Kit` is the one value every command starts from: the folder that holds grading.yml, its
config (loaded once), and the paths of an exercise. An exercise id is normalised here and
nowhere else ("1", "01" and " 01" are all exercise 01).
"""

from __future__ import annotations

import atexit
import functools
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ticketrail import config as grading_config

EXERCISE_ID = re.compile(r"^\d\d$")
TEST_FOLDERS = ("exercises", "graders")
PRISTINE_DIR = ".pristine"
KNOWN_WRONG_DIR = Path("tests") / "wrong"
_NOT_COPIED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


class KitError(Exception):
    """A mistake the person at the keyboard can fix: the message says what and how."""


class UnknownExercise(KitError, LookupError):
    pass


class MissingFolder(KitError, FileNotFoundError):
    pass


def exercise_of(test_path: Path) -> str | None:
    """'03' for exercises/03/test_x.py or graders/03/test_x.py, else None."""
    folder = test_path.parent
    if EXERCISE_ID.match(folder.name) and folder.parent.name in TEST_FOLDERS:
        return folder.name
    return None


def find_kit_root(*starts: Path) -> Path:
    """The nearest folder above any of `starts` that holds grading.yml."""
    for start in starts:
        for folder in [start, *start.parents]:
            if (folder / "grading.yml").is_file():
                return folder
    raise FileNotFoundError(f"no grading.yml above {', '.join(map(str, starts))}: is this a Ticket Rail kit?")


def normalise_id(raw: str) -> str | None:
    """'01' for "1", "01", " 01" or "001"; None when `raw` is not a number."""
    text = raw.strip()
    return f"{int(text):02d}" if text.isdigit() else None


@dataclass(frozen=True)
class Kit:
    root: Path

    @classmethod
    def find(cls, *starts: Path) -> Kit:
        """The kit above `starts`; by default above the current folder, else the one this package is installed from."""
        return _found(starts or (Path.cwd(), Path(__file__).resolve()))

    @functools.cached_property
    def config(self) -> grading_config.GradingConfig:
        return grading_config.load(self.root / "grading.yml")

    @property
    def is_handout(self) -> bool:
        """A student's handout carries no reference solutions."""
        return not (self.root / "reference").is_dir()

    def exercise(self, exercise_id: str) -> grading_config.ExerciseSpec:
        """The exercise "1", "01" or " 01" names; an UnknownExercise listing the known ones if none."""
        known = sorted(self.config.exercises)
        normal = normalise_id(exercise_id)
        if normal in self.config.exercises:
            return self.config.exercises[normal]
        raise UnknownExercise(f"There is no exercise {exercise_id.strip()!r} in this kit; "
                              f"the exercises are {', '.join(known) or 'none'}.")

    def starter(self, exercise_id: str) -> Path:
        """starter/NN: in a handout, the student's own work."""
        return self.root / "starter" / exercise_id

    def pristine(self, exercise_id: str) -> Path:
        """The starter as handed out: .pristine/NN in a handout, starter/NN in the kit's repository."""
        copy = self.root / PRISTINE_DIR / exercise_id
        return copy if copy.is_dir() else self.starter(exercise_id)

    def reference(self, exercise_id: str) -> Path | None:
        folder = self.root / "reference" / exercise_id
        return folder if folder.is_dir() else None

    def graders(self, exercise_id: str) -> Path:
        return self.root / "graders" / exercise_id

    def self_checks(self, exercise_id: str) -> Path:
        """exercises/NN: the README and the self-checks."""
        return self.root / "exercises" / exercise_id

    def known_wrong(self, exercise_id: str) -> list[Path]:
        """The known-wrong solutions of an exercise, each a folder of student files (none in a handout)."""
        folder = self.root / KNOWN_WRONG_DIR / exercise_id
        return sorted(p for p in folder.iterdir() if p.is_dir() and p.name != "__pycache__") if folder.is_dir() else []

    def impl_choices(self) -> tuple[str, ...]:
        """What --impl offers by name here: reference only where there is one."""
        return ("starter",) if self.is_handout else ("starter", "reference")

    def impl_folder(self, impl: str, exercise_id: str) -> Path:
        """The folder --impl names (starter/NN, reference/NN, PATH/NN or PATH), as it is: nothing laid over."""
        if impl == "reference" and self.is_handout:
            raise KitError("--impl reference: this kit is a handout and has no reference solutions; "
                           "use --impl starter (your work) or --impl FOLDER.")
        if impl in ("starter", "reference"):
            folder = self.root / impl / exercise_id
        else:
            path = Path(impl).expanduser().resolve()
            folder = path / exercise_id if (path / exercise_id).is_dir() else path
        if not folder.is_dir():
            raise MissingFolder(f"--impl {impl}: there is no folder {folder} for exercise {exercise_id}.")
        return folder

    def assemble(self, exercise_id: str, *layers: Path, into: Path | None = None) -> Path:
        """The pristine starter with each layer's student files laid over it, in order, in a new folder.

        Only the files grading.yml lists as the exercise's student files are taken from a layer:
        the other files belong to the kit and always come from the starter. Returns `into`
        (created; it must not exist) or a new folder under the system temp dir, the caller's to remove.
        """
        spec = self.exercise(exercise_id)
        pristine = self.pristine(spec.id)
        if not pristine.is_dir():
            raise KitError(f"The starter of exercise {spec.id} is missing ({pristine} does not exist): it belongs "
                           "to the kit, not to your work; get it back from the handout or the kit's repository.")
        for layer in layers:
            if not Path(layer).is_dir():
                raise KitError(f"{layer} is not a folder: exercise {spec.id} cannot be laid over the starter from it.")
        folder = Path(into) if into is not None else Path(tempfile.mkdtemp(prefix=f"ticketrail-{spec.id}-")) / spec.id
        shutil.copytree(pristine, folder, ignore=_NOT_COPIED)
        for layer in layers:
            for name in spec.student_files:
                source = Path(layer) / name
                if source.is_file():
                    target = folder / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.unlink(missing_ok=True)
                    shutil.copyfile(source, target)
        missing = [name for name in spec.student_files if not (folder / name).is_file()]
        if missing:
            raise KitError(f"Exercise {spec.id} needs {', '.join(missing)}: no folder given holds "
                           f"{'it' if len(missing) == 1 else 'them'}, and the starter ({pristine}) has none.")
        return folder

    def kit_files(self, exercise_id: str) -> list[str]:
        """The starter's files that are not the student's: the kit gives them and grading uses its own."""
        spec = self.exercise(exercise_id)
        pristine = self.pristine(spec.id)
        if not pristine.is_dir():
            return []
        names = [p.relative_to(pristine).as_posix() for p in sorted(pristine.rglob("*"))
                 if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
        return [name for name in names if name not in spec.student_files]


# --- the implementation pytest checks (--impl) ---------------------------------------------

_assembled: dict[tuple[Path, str], Path] = {}


def _remove_assembled() -> None:
    for folder in _assembled.values():
        shutil.rmtree(folder.parent, ignore_errors=True)
    _assembled.clear()


def resolve_impl(root: Path, impl: str, exercise_id: str, scratch: Path | None = None) -> Path:
    """starter/NN, reference/NN, or a folder (PATH/NN when it has one, else PATH itself).

    A folder that lacks some of the starter's files (a student's app.py alone) is laid over
    the starter, as grading does: once per process, in `scratch` when given (removed by its
    owner), else under the system temp dir, removed when the process exits.
    """
    kit = _kit(Path(root))
    folder = kit.impl_folder(impl, exercise_id)
    if impl in ("starter", "reference") or _complete(kit, exercise_id, folder):
        return folder
    key = (folder, exercise_id)
    if key not in _assembled:
        if not _assembled:
            atexit.register(_remove_assembled)
        into = Path(tempfile.mkdtemp(prefix=f"ticketrail-{exercise_id}-", dir=scratch)) / exercise_id
        _assembled[key] = kit.assemble(exercise_id, folder, into=into)
    return _assembled[key]


def _complete(kit: Kit, exercise_id: str, folder: Path) -> bool:
    """True when `folder` holds every file of the starter: nothing to lay it over."""
    try:
        needed = [*kit.exercise(exercise_id).student_files, *kit.kit_files(exercise_id)]
    except KitError:
        return True  # an exercise grading.yml does not know: there is nothing to lay it over
    return all((folder / name).is_file() for name in needed)


@functools.lru_cache(maxsize=None)
def _kit(root: Path) -> Kit:
    return Kit(root)


@functools.lru_cache(maxsize=None)
def _found(starts: tuple[Path, ...]) -> Kit:
    try:
        return _kit(find_kit_root(*starts))
    except FileNotFoundError:
        raise KitError("There is no grading.yml in this folder or above it: run ticketrail from the kit's "
                       "folder (the one with grading.yml and starter/).") from None
