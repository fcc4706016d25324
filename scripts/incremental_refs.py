"""Sphinx extension: incremental builds re-write the pages whose citations changed.

Upstream gap (Sphinx 7.4 with sphinxcontrib-bibtex 2.7): Sphinx re-writes only
the documents it re-read, and sphinxcontrib-bibtex decides which entries the
bibliography lists, and their labels and anchors, only after all documents are
read (its ``env-updated`` handler), but returns no document to re-write. So an
incremental build that re-reads one chapter leaves every *other* page as it was:

- a chapter cites a new work: the references page is not re-written, lacks the
  entry, and the chapter's new ``references.html#idN`` link points nowhere;
- a chapter drops its last citation of a work: the references page still lists it;
- ``references.bib`` changes: the references page is re-read (its ``.bib``
  dependency) and its ``idN`` anchors and labels may shift, but the chapters that
  link to them are not re-written and keep the old anchors and author-year text.

This is why the build once passed ``--all`` (re-read every page, ~15 s). Instead,
this extension takes a fingerprint of every citation (key -> anchor, page,
label, formatted entry) before reading and again after sphinxcontrib-bibtex has
recomputed them, and hands Sphinx, to be re-written,

- every page with a ``{bibliography}`` when the set of cited works or any
  citation changed, and
- every page that cites a work whose anchor, label or entry changed.

No page is re-read for this (the doctrees are current; only the resolution of
their references is), and a build in which nothing was read re-writes nothing.
"""

from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
# The citations of the last build, kept on the app (env.temp_data is cleared per document).
SNAPSHOT = "_incremental_refs_citations"


def citation_fingerprints(env) -> dict[str, tuple]:
    """Per cited key: everything of it that another page's output shows or links to."""
    domain = env.get_domain("cite")
    prints = {}
    for citation in domain.citations:
        entry = citation.formatted_entry
        prints[citation.key] = (
            citation.bibliography_key.docname,
            citation.citation_id,
            entry.label,
            entry.text.render_as("text"),
            repr(sorted(citation.entry.fields.items())),
            repr({role: [str(p) for p in people] for role, people in citation.entry.persons.items()}),
        )
    return prints


def snapshot(app: Sphinx, env, added, changed, removed) -> list[str]:
    # Emitted before any document is purged or read: the citations of the last build.
    setattr(app, SNAPSHOT, citation_fingerprints(env))
    return []


def outdated_citations(app: Sphinx, env) -> list[str]:
    before = getattr(app, SNAPSHOT, None)
    setattr(app, SNAPSHOT, None)
    if before is None:  # a fresh environment: every page is being written anyway
        return []
    after = citation_fingerprints(env)
    if before == after:
        return []
    domain = env.get_domain("cite")
    changed_keys = {key for key in before.keys() | after.keys()
                    if before.get(key) != after.get(key)}
    pages = {key.docname for key in domain.bibliographies}
    pages |= {ref.docname for ref in domain.citation_refs
              if any(target.key in changed_keys for target in ref.targets)}
    pages &= env.found_docs
    logger.info(f"incremental_refs: citations changed ({len(changed_keys)} works); "
                f"re-writing {', '.join(sorted(pages))}")
    return sorted(pages)


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinxcontrib.bibtex")
    app.connect("env-get-outdated", snapshot)
    # After sphinxcontrib-bibtex's own env-updated handler (priority 500) computed them.
    app.connect("env-updated", outdated_citations, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
