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
