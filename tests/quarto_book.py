"""Stand-in for `quarto render`: read the book's structure and execute its chapters.

Quarto cannot be installed on the build machines, so the tests do what its render
does to the code, read from quarto-cli's source:

- **Cells.** Each `.qmd` is parsed into cells (jupytext's R Markdown reader understands
  Quarto's ```{python} chunks and `#|` options), after `{{< include >}}` shortcodes are
  expanded. The chapter runs in one Jupyter kernel whose working directory is the
  project root, because `_quarto.yml` sets `project: execute-dir: project`.
- **Inline expressions** (`src/resources/jupyter/notebook.py`, `cell_execute_inline`).
  When execution reaches a Markdown cell, every `` `{python} expr` `` of it (pattern
  ``(?:^|[^`])`{python}[ \\t]([^`]+)` ``) is sent to the kernel as a Jupyter
  `user_expressions` entry of an empty `execute` request. IPython's display formatter
  answers each with a MIME bundle, stored in the cell's metadata.
- **What is written in place of the expression** (`src/core/jupyter/jupyter-inline.ts`,
  `resolveUserExpressions`, with `displayDataMimeType` of
  `src/core/jupyter/display-data.ts`). The MIME type is chosen by priority: for HTML,
  `text/html` first, then `text/markdown`, then images, then `text/plain`; for Typst,
  `text/markdown`, images, `text/plain`. `text/markdown` is written as Markdown, as is.
  `text/plain` is the value's `repr()`: when it starts and ends with a quote (a `str`),
  the quotes are stripped, every backslash doubled and every character of
  `` \\`*_{}[]()>#+-.! `` backslash-escaped (`asEscapedMarkdown`); any other repr is
  written as is. An empty result leaves the expression's source in the text.
- The substitution happens **before Markdown is parsed**, so a value at the start of a
  line can start a list ("145. Ces poids…", "+ 2…").

So a `str` holding U+00A0 renders as the four characters `\\xa0`, a `str` holding both
quotes shows `\\'`, Markdown inside a `str` shows its markers, and a float shows an
English decimal point. `lab.report.MarkdownText` (what the formatters of `lab.report`
return) is a `str` whose `_repr_markdown_` is itself: Quarto writes it as Markdown.
`InlineValue.problems()` says which of these defects a value would show.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import jupytext
import nbformat
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
INCLUDE = re.compile(r"\{\{<\s*include\s+(\S+)\s*>\}\}")
INLINE = re.compile(r"(?:^|[^`])`\{python\}[ \t]([^`]+)`", re.MULTILINE)  # notebook.py's pattern
ANCHOR = re.compile(r"^#{1,6}\s.*\{#([A-Za-z][\w-]*)[^}]*\}\s*$", re.MULTILINE)
LABEL_OPTION = re.compile(r"^#\|\s*label:\s*(\S+)\s*$", re.MULTILINE)
DIV_LABEL = re.compile(r"^:::+\s*\{#((?:fig|tbl)-[\w-]+)")
REFERENCE = re.compile(r"(?<![\w@])@((?:fig|tbl|sec)-[\w-]*\w)")

FORMATS = ("html", "typst")
# displayDataMimeType's priorities, restricted to the text types an inline value can have
MIME_PRIORITY = {
    "html": ("text/html", "text/markdown", "image/svg+xml", "image/png", "image/jpeg", "text/plain"),
    "typst": ("text/markdown", "image/svg+xml", "image/png", "image/jpeg", "text/plain"),
}
# A repr that reads as the reader expects: an integer, or a shape such as (28, 28, 1) or [9, 0, 0]
PLAIN_NUMBERS = re.compile(r"-?\d+|[(\[](?:-?\d+(?:, ?)?)*[)\]]")
# jupyter-inline.ts writes the class as `[\\`*_{}\[\]()>#+-.!]`: in a JavaScript class, `+-.` is the
# range from "+" to ".", so the comma is escaped too (seen in Quarto 1.10.18's frozen output: "\(5\, 5\, 32\)").
MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()>#+,\-.!])")


def book_config() -> dict:
    return yaml.safe_load((ROOT / "_quarto.yml").read_text())


def execute_dir() -> Path:
    """The kernel's working directory: the project root under `execute-dir: project`."""
    setting = book_config().get("project", {}).get("execute-dir", "file")
    return ROOT if setting == "project" else None


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
    return ANCHOR.findall(without_code(text))


def labels(text: str) -> list[str]:
    """Every cross-reference label: heading ids and `#| label:` cell options."""
    divs = [m.group(1) for line in text.splitlines() if (m := DIV_LABEL.match(line))]
    return anchors(text) + LABEL_OPTION.findall(text) + divs


def references(text: str) -> list[str]:
    """Every `@fig-`, `@tbl-` and `@sec-` reference of the prose."""
    return REFERENCE.findall(without_code(text))


def without_code(text: str) -> str:
    """The text without its fenced code chunks."""
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def lines_starting_with_an_inline_value(text: str) -> list[str]:
    """Prose lines whose first characters will be an inline value once Quarto substitutes it."""
    return [line for line in without_code(text).splitlines() if line.lstrip().startswith("`{python}")]


def escaped_markdown(plain: str) -> str:
    """jupyter-inline.ts `asEscapedMarkdown`: what Quarto writes for a `text/plain` value."""
    quoted = len(plain) >= 2 and plain[0] == plain[-1] and plain[0] in "'\""
    if not quoted:
        return plain
    return MARKDOWN_PUNCTUATION.sub(r"\\\1", plain[1:-1].replace("\\", "\\\\"))


def visible_text(markdown: str) -> str:
    """Roughly what a reader sees of inline Markdown: escapes resolved, emphasis markers kept."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


@dataclass
class InlineValue:
    """One inline expression, its MIME bundle, and what Quarto writes for it in each format."""

    expression: str
    bundle: dict

    def mime_type(self, to: str) -> str | None:
        return next((mime for mime in MIME_PRIORITY[to] if mime in self.bundle), None)

    def rendered(self, to: str) -> str:
        mime = self.mime_type(to)
        data = self.bundle.get(mime, "")
        data = "".join(map(str, data)) if isinstance(data, list) else str(data)
        if mime == "text/html":
            return f"`{data}`{{=html}}"
        return data if mime == "text/markdown" else escaped_markdown(data)

    def problems(self) -> list[str]:
        """What a reader would see wrong in this value, in either format (empty if nothing)."""
        found = []
        if self.expression != self.expression.strip():
            found.append("spaces around the expression: Quarto looks its value up trimmed and finds none")
        for to in FORMATS:
            mime, written = self.mime_type(to), self.rendered(to)
            plain = mime == "text/plain"
            if not written:
                found.append(f"{to}: empty, so Quarto leaves the expression's source in the text")
            if "\\" in visible_text(written):
                found.append(f"{to}: a backslash shows ({written!r})")
            if plain and written[:1] not in "'\"" and re.search(r"['\"]", written) and not _is_quoted(self):
                found.append(f"{to}: the repr's quotes show ({written!r})")
            if plain and _is_quoted(self) and re.search(r"\\[*`]", written):
                found.append(f"{to}: Markdown markers show literally ({written!r})")
            if plain and re.fullmatch(r"-?\d+\.\d*(e[+-]?\d+)?", written):
                found.append(f"{to}: a float shows an English decimal point ({written!r})")
            elif plain and not _is_quoted(self) and not PLAIN_NUMBERS.fullmatch(written):
                found.append(f"{to}: a Python repr shows ({written!r})")
            if mime == "text/html":
                found.append(f"{to}: raw HTML ({written[:60]!r})")
        return sorted(set(found))


def _is_quoted(value: InlineValue) -> bool:
    plain = str(value.bundle.get("text/plain", ""))
    return len(plain) >= 2 and plain[0] == plain[-1] and plain[0] in "'\""


@dataclass
class ExecutedChapter:
    path: Path
    notebook: nbformat.NotebookNode
    inline_values: list[InlineValue] = field(default_factory=list)

    def code_cells(self):
        return [cell for cell in self.notebook.cells if cell.cell_type == "code"]

    def markdown_outputs(self) -> list[str]:
        """Every `text/markdown` output of the code cells (tables among them)."""
        return [
            "".join(output["data"]["text/markdown"])
            for cell in self.code_cells()
            for output in cell.get("outputs", [])
            if "text/markdown" in output.get("data", {})
        ]

    def rendered_markdown(self, to: str = "html") -> str:
        """The chapter's prose with every inline expression replaced as Quarto replaces it."""
        values = {value.expression: value for value in self.inline_values}

        def substitute(match: re.Match) -> str:
            prefix = "" if match.group(0).startswith("`") else match.group(0)[0]
            value = values.get(match.group(1).strip())  # keyed by the raw expression, as Quarto's map
            written = value.rendered(to) if value else ""
            return prefix + written if written else match.group(0)

        cells = [cell.source for cell in self.notebook.cells if cell.cell_type == "markdown"]
        return "\n\n".join(INLINE.sub(substitute, source) for source in cells)

    def stream_text(self, name: str) -> str:
        return "".join(
            output.get("text", "")
            for cell in self.code_cells()
            for output in cell.get("outputs", [])
            if output.get("output_type") == "stream" and output.get("name") == name
        )


def to_notebook(path: Path) -> nbformat.NotebookNode:
    """The chapter as a notebook: its Markdown and code cells, as Quarto's Jupyter engine has them."""
    notebook = jupytext.reads(expanded_text(path), fmt="Rmd")
    notebook.cells = [cell for cell in notebook.cells if cell.cell_type != "raw"]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def execute(path: Path, timeout: int = 600) -> ExecutedChapter:
    """Run the chapter as Quarto does; raises on the first failing cell or inline expression."""
    notebook = to_notebook(path)
    workdir = execute_dir() or path.parent
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})  # fmt: skip
    values = []
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
            else:
                values += _evaluate_inline(client, cell)
    return ExecutedChapter(path, notebook, values)


FREEZE_FORMATS = {"html": "html", "typst": "typ"}  # the format, and its file under _freeze/<chapter>/execute-results


def frozen(chapter: str, to: str) -> dict | None:
    """What `quarto render` froze for `chapter` (a path from the project root) in format `to`, if anything."""
    import json

    path = ROOT / "_freeze" / Path(chapter).with_suffix("") / "execute-results" / f"{FREEZE_FORMATS[to]}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _squeezed(text: str) -> str:
    return " ".join(text.split())


def stale_values(executed: ExecutedChapter, frozen_markdown: str, to: str) -> list[str]:
    """The values of the executed chapter (inline values as Quarto writes them for `to`, Markdown outputs
    such as tables) that the frozen Markdown does not hold: numbers that changed since it was frozen."""
    text = _squeezed(frozen_markdown)
    values = [value.rendered(to) for value in executed.inline_values] + executed.markdown_outputs()
    return [value for value in values if _squeezed(value) and _squeezed(value) not in text]


WORD = re.compile(r"[\wÀ-ÿ’'-]+")


def words(executed: ExecutedChapter) -> int:
    """The words a reader sees in an executed chapter: its prose with the inline values written, its
    Markdown outputs (tables, the Keras code shown) and the source of its visible code cells."""
    prose = re.sub(r"```.*?```", " ", executed.rendered_markdown("typst"), flags=re.DOTALL)
    shown = [cell.source for cell in executed.code_cells() if not re.search(r"#\| (echo|include): false", cell.source)]
    return sum(len(WORD.findall(text)) for text in [prose, *executed.markdown_outputs(), *shown])


def execute_all(paths, workers: int | None = None) -> dict[Path, ExecutedChapter]:
    """Every chapter executed, `workers` kernels at a time (one per CPU core by default), as `execute` does.

    Each chapter runs in its own kernel, as in Quarto; the kernels are independent processes, so
    the chapters of a two-core machine execute two at a time.
    """
    from concurrent.futures import ThreadPoolExecutor

    paths = list(paths)
    workers = workers or min(len(paths), os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return dict(zip(paths, pool.map(execute, paths), strict=True))


class InlineExpressionError(RuntimeError):
    """An inline expression failed in the kernel (Quarto stops the render on it too)."""


def _evaluate_inline(client: NotebookClient, cell) -> list[InlineValue]:
    """notebook.py `cell_execute_inline`: the cell's expressions as `user_expressions`."""
    expressions = INLINE.findall(cell.source)
    if not expressions:
        return []
    request = {str(index): expression for index, expression in enumerate(expressions)}
    reply = client.wait_for_reply(client.kc.execute("", user_expressions=request))
    content = reply["content"]
    if content.get("status") != "ok":
        raise InlineExpressionError(f"{content.get('ename')}: {content.get('evalue')}")
    values = []
    for key, expression in request.items():
        result = content["user_expressions"][key]
        if result.get("status") != "ok":
            raise InlineExpressionError(f"`{expression}`: {result.get('ename')}: {result.get('evalue')}")
        values.append(InlineValue(expression, result.get("data", {})))
    cell.metadata["user_expressions"] = [{"expression": v.expression, "result": {"data": v.bundle}} for v in values]
    return values
