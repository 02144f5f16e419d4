"""The pre-commit hooks make the checks `.ci/run` makes, with a configuration pre-commit accepts."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_pre_commit_config_is_valid(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        env={"PRE_COMMIT_HOME": str(tmp_path), "PATH": str(Path(sys.executable).parent)},
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_pre_commit_hooks_run_the_ci_checks() -> None:
    config = yaml.safe_load((REPO_ROOT / ".pre-commit-config.yaml").read_text())
    entries = {hook["id"]: hook["entry"] for repo in config["repos"] for hook in repo["hooks"]}
    assert entries == {
        "ruff": "ruff check --force-exclude",
        "ruff-format": "ruff format --force-exclude",
        "mypy": "mypy",
    }
    ci = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    checks = [line for line in ci if line.split(" ")[0] in ("ruff", "mypy")]
    tests = next(i for i, line in enumerate(ci) if "pytest" in line)
    assert checks == ["ruff check .", "ruff format --check .", "mypy"]
    assert all(ci.index(check) < tests for check in checks)


def test_mypy_is_strict_on_the_whole_domain_and_silences_nothing_but_generated_code() -> None:
    config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    overrides = config["overrides"]
    [strict] = [o for o in overrides if o["module"] == ["solflow.domain.*"]]
    assert strict["disallow_untyped_defs"] and strict["disallow_any_generics"] and strict["warn_return_any"]
    silenced = [module for o in overrides if o.get("ignore_errors") for module in o["module"]]
    assert silenced == ["protos.*"], "only the generated protobuf modules go unchecked"
