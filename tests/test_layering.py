"""The modules of lab import one another without a cycle, and each says which it may import.

Read from the source with `ast` (nothing is imported): every `import lab.x`, `from lab import x`
and `from lab.x import y`, at the top of a module or inside a function, is an edge from the
module to `lab.x`. `from lab import Name` of a name that is not a module is an edge to the
package (`lab/__init__.py`).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parents[1] / "lab"
MODULES = sorted(path.stem for path in LAB.glob("*.py"))
# Modules whose docstring does not say what they may import (none: every module says it).
UNDECLARED: set[str] = set()


def imports(module: str) -> dict[str, list[int]]:
    """The lab modules `module` imports ("__init__" for the package), each with the lines that import it."""
    tree = ast.parse((LAB / f"{module}.py").read_text())
    found: dict[str, list[int]] = {}
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name.split(".")[1] for alias in node.names if alias.name.startswith("lab.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "lab":
                targets = [alias.name if alias.name in MODULES else "__init__" for alias in node.names]
            elif node.module.startswith("lab."):
                targets = [node.module.split(".")[1]]
        for target in targets:
            if target != module:
                found.setdefault(target, []).append(node.lineno)
    return found


GRAPH = {module: imports(module) for module in MODULES}


def cycles(graph) -> list[list[str]]:
    """Every elementary cycle found by a depth-first walk (each reported once, from its smallest module)."""
    found = set()

    def walk(path):
        for target in graph.get(path[-1], {}):
            if target == path[0]:
                found.add(tuple(path))
            elif target not in path and target > path[0]:
                walk([*path, target])

    for start in graph:
        walk([start])
    return [list(cycle) for cycle in sorted(found)]


def test_the_walk_finds_a_cycle_where_there_is_one():
    assert cycles({"a": {"b": [1]}, "b": {"c": [1]}, "c": {"a": [1]}, "d": {"a": [1]}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b": [1]}, "b": {}}) == []


def test_no_two_modules_of_lab_import_each_other_even_through_others():
    found = [" → ".join([*cycle, cycle[0]]) for cycle in cycles(GRAPH)]
    assert found == [], "import cycles among lab's modules:\n" + "\n".join(found)


DECLARED = re.compile(r"^Imports from lab: (.*?)(?:\n\n|\"\"\"|\Z)", re.MULTILINE | re.DOTALL)


def declared(module: str) -> set[str] | None:
    """The modules `module`'s docstring says it may import (its "Imports from lab:" paragraph), if it says."""
    docstring = ast.get_docstring(ast.parse((LAB / f"{module}.py").read_text())) or ""
    match = DECLARED.search(docstring)
    if not match:
        return None
    text = match.group(1).replace("the package", "__init__")
    return {word for word in re.findall(r"[a-z_]+", text) if word in MODULES or word == "__init__"}


@pytest.mark.parametrize("module", [module for module in MODULES if module not in UNDECLARED])
def test_each_module_imports_only_what_its_docstring_allows(module):
    allowed = declared(module)
    assert allowed is not None, f"lab/{module}.py: its docstring has no 'Imports from lab:' paragraph"
    undeclared = {target: lines for target, lines in GRAPH[module].items() if target not in allowed}
    assert not undeclared, f"lab/{module}.py imports {undeclared} (module: lines) beyond its docstring's {allowed}"


@pytest.mark.parametrize("module", ["analysis", "data", "keras_code", "predict", "stats", "store"])
def test_the_lower_modules_import_their_lab_modules_at_the_top(module):
    """Imports of lab at the top of the module, where a reader looks for them (heavy third-party ones may wait)."""
    tree = ast.parse((LAB / f"{module}.py").read_text())
    top = {id(node) for node in tree.body}
    nested = [node.lineno for node in ast.walk(tree)
              if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top
              and ((getattr(node, "module", None) or "").startswith("lab")
                   or any(alias.name.startswith("lab") for alias in node.names))]  # fmt: skip
    assert nested == [], f"lab/{module}.py imports lab inside functions at lines {nested}"
