"""The build's cache guard re-executes chapters when the helper package changes."""

import shutil

from conftest import load_script

cache_guard = load_script("cache_guard")


def test_changed_helper_code_clears_the_execution_cache(tmp_path):
    root = tmp_path / "repo"
    (root / "code" / "multilevel").mkdir(parents=True)
    module = root / "code" / "multilevel" / "models.py"
    module.write_text("A = 1\n")
    build = tmp_path / "_build"
    cache = build / ".jupyter_cache"
    assert cache_guard.guard(build, root)  # first build: nothing to compare with
    cache.mkdir()
    assert not cache_guard.guard(build, root)
    assert cache.exists(), "unchanged inputs must keep the cache"
    module.write_text("A = 2\n")
    assert cache_guard.guard(build, root)
    assert not cache.exists(), "a changed helper module must clear the cache"
    shutil.rmtree(build)


def test_fingerprint_covers_data_and_lock_files(tmp_path):
    (tmp_path / "data").mkdir()
    before = cache_guard.fingerprint(tmp_path)
    (tmp_path / "data" / "x.csv").write_text("a\n1\n")
    middle = cache_guard.fingerprint(tmp_path)
    (tmp_path / "requirements.lock").write_text("numpy==2\n")
    assert len({before, middle, cache_guard.fingerprint(tmp_path)}) == 3


def test_bibliography_edit_keeps_the_execution_cache(tmp_path):
    # A .bib edit changes no computed result: it re-renders pages, it re-executes nothing.
    (tmp_path / "references.bib").write_text("@book{a, title={A}}\n")
    before = cache_guard.fingerprint(tmp_path)
    (tmp_path / "references.bib").write_text("@book{a, title={B}}\n@book{b, title={C}}\n")
    assert cache_guard.fingerprint(tmp_path) == before


def test_fingerprint_covers_the_lme4_fixtures_the_chapters_read(tmp_path):
    (tmp_path / "tests" / "reference").mkdir(parents=True)
    before = cache_guard.fingerprint(tmp_path)
    (tmp_path / "tests" / "reference" / "sleepstudy.json").write_text("{}")
    assert cache_guard.fingerprint(tmp_path) != before
