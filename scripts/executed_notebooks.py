"""Sphinx extension: every chapter's downloadable notebook carries its outputs.

myst-nb (1.4) writes the notebook it *read* to ``_build/jupyter_execute/``, not the
executed one: when outputs come from the execution cache (after an edit to a
chapter's prose, or in CI with a restored cache) that copy lacks most outputs,
and the theme's download button then offers an unexecuted notebook. After all
pages are read, this extension merges the cached outputs into every such copy.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from jupyter_cache import get_cache
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)


def restore_outputs(app: Sphinx, env) -> None:
    config = env.mystnb_config
    cache = get_cache(config.execution_cache_path)
    folder = Path(config.output_folder)
    for docname in sorted(env.found_docs):
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
    app.connect("env-updated", restore_outputs)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
