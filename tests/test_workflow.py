"""The publishing workflow (.github/workflows/book.yml) cannot run here; check its essentials."""

import re

import pytest
import yaml
from conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


@pytest.fixture(scope="module")
def workflow():
    return yaml.safe_load(WORKFLOW.read_text())


@pytest.fixture(scope="module")
def default_branch():
    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["branch"]


def steps(job):
    return job.get("steps", [])


def uses(job, action):
    """The steps of ``job`` that use ``action`` (any version)."""
    return [s for s in steps(job) if s.get("uses", "").split("@")[0] == action]


def test_builds_on_pushes_to_the_default_branch_and_on_pull_requests(workflow, default_branch):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert default_branch in triggers["push"]["branches"]
    assert "pull_request" in triggers


def test_builds_with_the_makefile(workflow):
    build = workflow["jobs"]["build"]
    commands = [s.get("run", "").strip() for s in steps(build)]
    assert "make book" in commands
    python = uses(build, "actions/setup-python")
    assert python and float(python[0]["with"]["python-version"]) >= 3.11
    assert uses(build, "actions/checkout")
    # The site is uploaded after it is built.
    upload = uses(build, "actions/upload-pages-artifact")
    assert upload and upload[0]["with"]["path"] == "_build/html"
    assert steps(build).index(upload[0]) > commands.index("make book")


def test_publishes_only_from_the_default_branch_with_pages_permissions(workflow, default_branch):
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build" or "build" in deploy["needs"]
    condition = deploy["if"].replace(" ", "")
    assert "github.event_name=='push'" in condition
    assert f"github.ref=='refs/heads/{default_branch}'" in condition
    permissions = deploy["permissions"]
    assert permissions["pages"] == "write" and permissions["id-token"] == "write"
    assert deploy["environment"]["name"] == "github-pages"
    assert uses(deploy, "actions/deploy-pages")
    # Nothing else may write to the repository.
    assert workflow["permissions"] == {"contents": "read"}


def test_execution_cache_is_keyed_on_the_lock_file_and_the_package(workflow):
    caches = uses(workflow["jobs"]["build"], "actions/cache")
    jupyter = [c for c in caches if "_build/.jupyter_cache" in c["with"]["path"]]
    assert len(jupyter) == 1, "one cache step must hold _build/.jupyter_cache"
    settings = jupyter[0]["with"]
    # Without the fingerprint, scripts/cache_guard.py would discard the restored cache.
    assert "_build/.inputs-fingerprint" in settings["path"]
    hashed = re.findall(r"hashFiles\(([^)]*)\)", settings["key"])
    assert hashed, "the key must hash the inputs"
    inputs = {name.strip(" '\"") for name in hashed[0].split(",")}
    assert {"requirements.lock", "code/multilevel/**"} <= inputs
    # The key follows the cache guard's inputs: a bibliography edit must not discard the
    # executed chapters (it changes no result), a data or fixture edit must.
    assert "references.bib" not in inputs
    assert {"data/*.csv", "tests/reference/*.json"} <= inputs
    # A restored cache must share the same inputs: restore-keys are the key minus the run id.
    for prefix in settings.get("restore-keys", "").splitlines():
        assert settings["key"].startswith(prefix)
        assert hashed[0] in prefix


def test_environment_cache_is_keyed_on_python_and_the_lock_file(workflow):
    caches = uses(workflow["jobs"]["build"], "actions/cache")
    venv = [c["with"] for c in caches if c["with"]["path"].strip() == ".venv"]
    assert venv, "the virtual environment is cached"
    assert "python-version" in venv[0]["key"] and "requirements.lock" in venv[0]["key"]
