"""Stand-in for `quarto render`: read the book's structure and execute its chapters.

Quarto cannot be installed on the build machines, so the tests do what its render
does to the code: parse each `.qmd` into cells (jupytext's R Markdown reader
understands Quarto's ```{python} chunks and `#|` options), expand `{{< include >}}`
shortcodes, turn every inline `{python} expr` into a code cell placed after the
paragraph that holds it, and run the whole chapter in a Jupyter kernel whose working
directory is the chapter's folder, as Quarto's is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = re.compile(r"\{\{<\s*include\s+(\S+)\s*>\}\}")
INLINE = re.compile(r"`\{python\}\s+([^`]+)`")
ANCHOR = re.compile(r"^#{1,6}\s.*\{#([A-Za-z][\w-]*)[^}]*\}\s*$", re.MULTILINE)
LABEL_OPTION = re.compile(r"^#\|\s*label:\s*(\S+)\s*$", re.MULTILINE)
DIV_LABEL = re.compile(r"^:::+\s*\{#((?:fig|tbl)-[\w-]+)")
REFERENCE = re.compile(r"(?<![\w@])@((?:fig|tbl|sec)-[\w-]*\w)")


def book_config() -> dict:
    return yaml.safe_load((ROOT / "_quarto.yml").read_text())


def _flatten(items) -> list[str]:
    files = []
    for item in items or []:
        if isinstance(item, str):
            files.append(item)
        elif isinstance(item, dict):
            files += [item["part"]] if str(item.get("part", "")).endswith(".qmd") else []
            files += _flatten(item.get("chapters"))
    return files


def chapter_files() -> list[str]:
    """The chapters and appendices of the book, as paths relative to the project root."""
    book = book_config()["book"]
    return _flatten(book.get("chapters")) + _flatten(book.get("appendices"))


def expanded_text(path: Path) -> str:
    """The chapter's text with `{{< include >}}` shortcodes replaced by the included files."""
    text = path.read_text()
    return INCLUDE.sub(lambda m: expanded_text((path.parent / m.group(1)).resolve()), text)


def anchors(text: str) -> list[str]:
    """Every heading id of the text, e.g. `q-2-3` for `## ... {#q-2-3}`."""
    return ANCHOR.findall(_without_code(text))


def labels(text: str) -> list[str]:
    """Every cross-reference label: heading ids and `#| label:` cell options."""
    divs = [m.group(1) for line in text.splitlines() if (m := DIV_LABEL.match(line))]
    return anchors(text) + LABEL_OPTION.findall(text) + divs


def references(text: str) -> list[str]:
    """Every `@fig-`, `@tbl-` and `@sec-` reference of the prose."""
    return REFERENCE.findall(_without_code(text))


def _without_code(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


@dataclass
class ExecutedChapter:
    path: Path
    notebook: nbformat.NotebookNode
    inline_values: list[tuple[str, str]] = field(default_factory=list)

    def code_cells(self):
        return [cell for cell in self.notebook.cells if cell.cell_type == "code"]

    def stream_text(self, name: str) -> str:
        return "".join(
            output.get("text", "")
            for cell in self.code_cells()
            for output in cell.get("outputs", [])
            if output.get("output_type") == "stream" and output.get("name") == name
        )


def to_notebook(path: Path) -> nbformat.NotebookNode:
    """The chapter as a notebook: its cells, with a cell per inline expression."""
    notebook = jupytext.reads(expanded_text(path), fmt="Rmd")
    cells = []
    for cell in notebook.cells:
        cells.append(cell)
        if cell.cell_type == "markdown":
            for expression in INLINE.findall(cell.source):
                inline = nbformat.v4.new_code_cell(f"print(str({expression.strip()}))")
                inline.metadata["inline_expression"] = expression.strip()
                cells.append(inline)
    notebook.cells = [cell for cell in cells if cell.cell_type != "raw"]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def execute(path: Path, timeout: int = 600) -> ExecutedChapter:
    """Run every cell of the chapter; raises `CellExecutionError` on the first failing one."""
    notebook = to_notebook(path)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})  # fmt: skip
    client.execute()
    values = [
        (cell.metadata["inline_expression"], _printed(cell))
        for cell in notebook.cells
        if "inline_expression" in cell.metadata
    ]
    return ExecutedChapter(path, notebook, values)


def _printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream").strip()
