"""Sphinx extension: incremental builds re-write the pages whose references changed.

Upstream gap (Sphinx 7.4 with sphinxcontrib-bibtex 2.7): Sphinx re-writes only the
documents it re-read (plus toctree parents and pages whose own figure numbers
changed). A reference from one page to another is resolved when the *referring*
page is written, so an incremental build that re-reads one chapter leaves stale
links and texts on the pages it did not re-read:

- citations: sphinxcontrib-bibtex decides which works the bibliography lists, and
  their labels and ``idN`` anchors, after all documents are read, but returns no
  page to re-write. A chapter that cites a new work leaves the references page
  without it (the chapter's ``references.html#idN`` points nowhere); a chapter
  that drops a citation leaves the work listed; a ``references.bib`` edit makes
  Sphinx re-read the references page (its dependency), its anchors and labels
  shift, and every citing chapter keeps the old ones;
- cross-references: a ``{ref}``, ``{numref}``, ``{term}``, ``{eq}`` or ``{doc}`` to
  a section, figure, glossary term or equation of a re-read page keeps its old
  text (a section title, "Fig. 3.2") or its old anchor (a renamed label, which a
  strict build would otherwise report as broken).

This is why the build once passed ``--all`` (re-read every page, ~15 s of a
no-change build). Instead, this extension takes a fingerprint of every reference
target (citations: key -> anchor, page, label, formatted entry; labels, terms,
objects, equations, documents: -> page, anchor, title, figure number) before
reading and again after sphinxcontrib-bibtex and Sphinx's toctree collector have
recomputed them, and gives Sphinx, to be re-written (not re-read): every page with
a ``{bibliography}`` when any citation changed, and every page that refers to a
target whose fingerprint changed (with author-year citations, a shifted "[12]"
label of the bibliography does not count: those pages do not show it). A build
that read nothing re-writes nothing.
"""

from __future__ import annotations

import posixpath

from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)
# Targets of the last build, kept on the app (env.temp_data is cleared per document).
SNAPSHOT = "_incremental_refs_before"
# docname -> the reference targets on that page (lower case), kept in the pickled env.
XREFS = "incremental_refs_xrefs"
# Marks a page that uses {cite:label} or {cite:labelpar} (among its reference targets).
LABEL_ROLES = "\x00cite-label-roles"
# The documents read in this build (they are written anyway).
READ = "_incremental_refs_read"


def citation_fingerprints(env) -> dict[str, tuple]:
    """Per cited key: its bibliography page, anchor, label and entry."""
    prints = {}
    for citation in env.get_domain("cite").citations:
        entry = citation.formatted_entry
        prints[citation.key] = (
            citation.bibliography_key.docname,
            citation.citation_id,
            str(entry.text),
            repr(sorted(citation.entry.fields.items())),
            repr({role: [str(p) for p in people]
                  for role, people in citation.entry.persons.items()}),
            entry.label,  # last: a citing page that shows no label ignores it
        )
    return prints


def shows_labels(env, docname: str) -> bool:
    """Whether a page's citations show the bibliography's labels ("[12]"), which shift
    whenever a work earlier in the list is added; author-year citations do not, unless
    the page uses a label role."""
    style = str(env.config.bibtex_reference_style)
    return "author_year" not in style or LABEL_ROLES in xrefs(env).get(docname, set())


def target_fingerprints(env) -> dict[str, set]:
    """Per target name (lower case): where it is and what a reference to it shows."""
    prints: dict[str, set] = {}

    def add(name, *details):
        prints.setdefault(name.lower(), set()).add(details)

    for domain in env.domains.values():
        if domain.name == "cite":
            continue
        for name, dispname, kind, docname, anchor, _ in domain.get_objects():
            add(name, domain.name, kind, docname, anchor, dispname)
    std = env.get_domain("std")
    for name, (docname, labelid) in std.anonlabels.items():
        numbers = {figtype: ids[labelid] for figtype, ids
                   in env.toc_fignumbers.get(docname, {}).items() if labelid in ids}
        add(name, "std", "anonlabel", docname, labelid, repr(sorted(numbers.items())),
            repr(env.toc_secnumbers.get(docname, {}).get(f"#{labelid}")))
    for label, (docname, number) in env.get_domain("math").equations.items():
        add(label, "math", "eq", docname, number)
    return prints


def note_read(app: Sphinx, env, docnames: list[str]) -> None:
    setattr(app, READ, set(docnames))


def snapshot(app: Sphinx, env, added, changed, removed) -> list[str]:
    # Emitted before any document is purged or read: the targets of the last build.
    setattr(app, SNAPSHOT, (citation_fingerprints(env), target_fingerprints(env)))
    return []


def xrefs(env) -> dict[str, set[str]]:
    return env.__dict__.setdefault(XREFS, {})


def collect_xrefs(app: Sphinx, doctree) -> None:
    docname = app.env.docname
    targets = set()
    for node in doctree.findall(addnodes.pending_xref):
        target = str(node.get("reftarget", "")).lower()
        if node.get("reftype") == "doc":
            target = target[1:] if target.startswith("/") else posixpath.normpath(
                posixpath.join(posixpath.dirname(docname), target))
        targets.add(target)
        if node.get("refdomain") == "cite" and node.get("reftype") in ("label", "labelpar"):
            targets.add(LABEL_ROLES)
    xrefs(app.env)[docname] = targets


def purge(app: Sphinx, env, docname: str) -> None:
    xrefs(env).pop(docname, None)


def merge(app: Sphinx, env, docnames, other) -> None:
    xrefs(env).update({d: xrefs(other)[d] for d in docnames if d in xrefs(other)})


def changed(before: dict, after: dict) -> set:
    return {key for key in before.keys() | after.keys() if before.get(key) != after.get(key)}


def pages_to_rewrite(app: Sphinx, env) -> list[str]:
    saved = getattr(app, SNAPSHOT, None)
    setattr(app, SNAPSHOT, None)
    if saved is None:
        return []
    citations, targets = saved
    pages = set()
    now = citation_fingerprints(env)
    changed_keys = changed(citations, now)
    if changed_keys:
        domain = env.get_domain("cite")
        pages |= {key.docname for key in domain.bibliographies}
        unlabelled = changed({k: v[:-1] for k, v in citations.items()},
                             {k: v[:-1] for k, v in now.items()})
        pages |= {ref.docname for ref in domain.citation_refs
                  if any(target.key in (changed_keys if shows_labels(env, ref.docname)
                                        else unlabelled) for target in ref.targets)}
    changed_targets = changed(targets, target_fingerprints(env))
    if changed_targets:
        pages |= {docname for docname, refs in xrefs(env).items()
                  if refs & changed_targets}
    pages = (pages & env.found_docs) - getattr(app, READ, set())
    if pages:
        logger.info(f"incremental_refs: {len(changed_keys)} citations and "
                    f"{len(changed_targets)} reference targets changed; "
                    f"re-writing {', '.join(sorted(pages))}")
    return sorted(pages)


def setup(app: Sphinx) -> dict:
    app.setup_extension("sphinxcontrib.bibtex")
    app.connect("env-get-outdated", snapshot)
    app.connect("env-before-read-docs", note_read, priority=900)
    app.connect("doctree-read", collect_xrefs)
    app.connect("env-purge-doc", purge)
    app.connect("env-merge-info", merge)
    # After sphinxcontrib-bibtex (env-updated) and the toctree collector's figure and
    # section numbers (env-get-updated, priority 500) have been recomputed.
    app.connect("env-get-updated", pages_to_rewrite, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
