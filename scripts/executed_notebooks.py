"""Sphinx extension: every chapter's downloadable notebook carries its outputs.

Upstream gap (myst-nb 1.4, ``execute_notebooks: cache``): myst-nb writes the
notebook it *read* to ``_build/jupyter_execute/``, not the executed one: when
outputs come from the execution cache (after an edit to a chapter's prose, after
``scripts/execute_chapters.py`` executed it, or in CI with a restored cache) that
copy lacks most outputs, and the theme's download button then offers an
unexecuted notebook. After the pages are read, this extension merges the cached
outputs into the copies of the pages read in this build (the copies of the other
pages were merged when they were read).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from jupyter_cache import get_cache
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)


READ = "_executed_notebooks_read"


def note_read(app: Sphinx, env, docnames: list[str]) -> None:
    setattr(app, READ, set(docnames))


def restore_outputs(app: Sphinx, env) -> None:
    docnames = getattr(app, READ, set()) & env.found_docs
    if not docnames:
        return
    config = env.mystnb_config
    cache = get_cache(config.execution_cache_path)
    folder = Path(config.output_folder)
    for docname in sorted(docnames):
        path = folder.joinpath(*docname.split("/")).with_suffix(".ipynb")
        if not path.exists():
            continue
        notebook = nbformat.read(path, as_version=4)
        if not any(cell.cell_type == "code" for cell in notebook.cells):
            continue
        try:
            _, merged = cache.merge_match_into_notebook(notebook)
        except KeyError:
            logger.warning(f"{docname}: no cached outputs to put in its downloadable notebook")
            continue
        nbformat.write(merged, path)


def setup(app: Sphinx) -> dict:
    app.connect("env-before-read-docs", note_read, priority=900)
    app.connect("env-updated", restore_outputs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
