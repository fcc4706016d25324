"""Each chapter runs top to bottom in a fresh kernel on its own, outside the book build."""

import jupytext
import nbformat
import pytest
from conftest import ROOT, notebook_chapters
from nbclient import NotebookClient


@pytest.mark.slow
@pytest.mark.parametrize("chapter", notebook_chapters())
def test_chapter_executes_in_a_fresh_kernel(chapter):
    path = ROOT / f"{chapter}.md"
    notebook = jupytext.read(path)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    errors = [out for cell in notebook.cells if cell.cell_type == "code"
              for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    assert not errors
    nbformat.validate(notebook)
