"""The package's shape: imports at the top of a module go one way, and the library never reaches up into the
command line. (An import inside a function is a deliberate late import and does not count.)"""

from __future__ import annotations

import ast
from pathlib import Path

from helpers import KIT

SOURCE = KIT / "src"


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SOURCE / "ticketrail").rglob("*.py")):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def top_level_imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    imported = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        for statement in node.body if isinstance(node, (ast.If, ast.Try)) else [node]:
            if isinstance(statement, ast.Import):
                imported.update(alias.name for alias in statement.names)
            elif isinstance(statement, ast.ImportFrom):
                base = statement.module or ""
                if statement.level:
                    anchor = package.split(".")[:len(package.split(".")) - statement.level + 1]
                    base = ".".join(anchor + ([statement.module] if statement.module else []))
                for alias in statement.names:
                    imported.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {module for module in imported if module in known and module != name}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: top_level_imports(name, path, known) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that import each other, directly or round a loop (Tarjan's strongly connected parts)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(edges[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while (member := stack.pop()) != module:
                group.append(member)
            if group:
                found.append(sorted([module, *group]))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def test_no_module_of_the_package_imports_itself_round_a_loop():
    loops = cycles(graph())
    assert not loops, (f"these modules import each other at the top: {loops}. Move what both need into a "
                       "module of its own, one concept, that imports neither.")


def test_the_library_never_imports_the_command_line():
    upward = {name: sorted(module for module in imported if module.startswith("ticketrail.commands"))
              for name, imported in graph().items()
              if not name.startswith("ticketrail.commands") and name != "ticketrail.cli"}
    upward = {name: modules for name, modules in upward.items() if modules}
    assert not upward, (f"library modules importing commands: {upward}. A command parses, calls the library and "
                        "prints; what the library needs belongs in the library.")


def test_the_loop_finder_finds_a_loop():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


HARNESS_DOC = KIT / "docs" / "harness.md"


def undocumented() -> list[str]:
    """Modules docs/harness.md does not name: by path, or by file name in the row of their folder. A subcommand's
    module is named by cli.py's list instead, which the doc points to."""
    from ticketrail.cli import SUBCOMMANDS

    rows = HARNESS_DOC.read_text(encoding="utf-8").splitlines()
    missing = []
    for path in sorted((SOURCE / "ticketrail").rglob("*.py")):
        relative = path.relative_to(SOURCE / "ticketrail").as_posix()
        folder, _, name = relative.rpartition("/")
        if relative == "__init__.py" or (name == "__init__.py" and any(f"`{folder}/" in row for row in rows)):
            continue
        if folder == "commands":
            if name.startswith("_") or f"ticketrail.commands.{name[:-3]}" in SUBCOMMANDS:
                continue
        elif any(f"`{relative}`" in row for row in rows):
            continue
        elif folder and any(f"`{folder}/`" in row and (name in row or f"`{name[:-3]}`" in row) for row in rows):
            continue
        missing.append(relative)
    return missing


def test_the_harness_doc_names_every_module():
    missing = undocumented()
    assert not missing, (f"docs/harness.md does not name {missing}: add a row with the module's one concept (or, "
                         "in a package, name it in its folder's row).")


def test_every_module_says_its_one_concept_in_its_first_line():
    silent = [path.relative_to(SOURCE).as_posix() for path in sorted((SOURCE / "ticketrail").rglob("*.py"))
              if not (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "").strip()]
    assert not silent, f"these modules open without a docstring saying what they are for: {silent}"
