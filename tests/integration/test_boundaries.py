"""Modules import each other's contracts only; import-linter enforces it, and a planted
violation proves the contract can fail."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "app", project / "app",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    return project


def test_the_boundaries_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_module_importing_another_modules_service_is_caught(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    planted = project / "app/modules/orders/service.py"
    planted.write_text("from app.modules.payment import service as payment\n"
                       + planted.read_text())
    result = lint_imports(project)
    assert result.returncode != 0
    assert "Modules talk only through each other's contracts BROKEN" in result.stdout
    assert "app.modules.orders.service -> app.modules.payment.service" in result.stdout


def test_a_module_importing_another_modules_models_is_caught(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    planted = project / "app/modules/shipping/reactions/hybrid.py"
    planted.write_text("from app.modules.inventory.models import Pick  # noqa\n"
                       + planted.read_text())
    result = lint_imports(project)
    assert result.returncode != 0
    assert "app.modules.shipping.reactions.hybrid -> app.modules.inventory.models" in (
        result.stdout)


def test_the_kernel_importing_a_module_is_caught(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    planted = project / "app/bus/dispatcher.py"
    planted.write_text("import app.modules.orders.models  # noqa\n" + planted.read_text())
    result = lint_imports(project)
    assert "The kernel does not know the modules BROKEN" in result.stdout


def test_the_reports_list_every_module_once() -> None:
    from app.modules import MODULES
    from app.wiring_report import MODULE_ORDER

    assert sorted(MODULE_ORDER) == sorted(MODULES) and len(set(MODULE_ORDER)) == len(MODULES)
