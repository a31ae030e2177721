"""``import tv2tv`` registers ``tv2tv/WorldModel-v0`` and stays light (no torch at import time).

Each check runs in a fresh interpreter: this test process may already hold torch or a registry
filled by other imports.
"""

from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_tv2tv_registers_world_model_env():
    proc = _run("import tv2tv, gymnasium; assert 'tv2tv/WorldModel-v0' in gymnasium.registry")
    assert proc.returncode == 0, proc.stderr


def test_import_tv2tv_does_not_import_torch():
    proc = _run("import sys, tv2tv; assert 'torch' not in sys.modules, 'import tv2tv pulled in torch'")
    assert proc.returncode == 0, proc.stderr


def test_registration_is_idempotent_and_shared_with_planners():
    # Registering again (tv2tv.register_envs, then the planners package) keeps one entry, no warning.
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "import gymnasium, tv2tv\n"
        "spec = gymnasium.spec('tv2tv/WorldModel-v0')\n"
        "tv2tv.register_envs()\n"
        "import tv2tv.planners\n"
        "assert gymnasium.spec('tv2tv/WorldModel-v0') is spec\n"
        "assert spec.entry_point == 'tv2tv.planners.world_model_env:WorldModelEnv'\n"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr
