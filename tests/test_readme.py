"""README's "The API in five requests" works when pasted: its shell block is run as written
against a live ``pvm serve`` (only the port differs), after ``pvm demo`` as ``make run`` does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import Server

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "readme-bootstrap-admin-key-123"


def readme_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The API in five requests", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match is not None, "no ```sh block in the section"
    return match.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_api_walkthrough_runs(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PVM_DATABASE_URL": f"sqlite:///{tmp_path / 'readme.db'}",
        "PVM_ENVIRONMENT": "test",
        "PVM_SECRET_KEY": "readme-test-" + "z" * 40,
        "PVM_BOOTSTRAP_ADMIN_KEY": ADMIN,
    }
    env.pop("PVM_BROKER_URL", None)
    demo = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo", "--responses", "60"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr
    server_env = {k: env[k] for k in ("PVM_SECRET_KEY", "PVM_BOOTSTRAP_ADMIN_KEY")}
    with Server(env["PVM_DATABASE_URL"], workers=1, log_dir=tmp_path, **server_env) as server:
        work = tmp_path / "paste"
        work.mkdir()
        (work / "tests").symlink_to(ROOT / "tests")  # "from the repository's root"
        script = readme_block().replace("http://127.0.0.1:8000", server.base)
        run = subprocess.run(
            ["bash", "-c", "set -eo pipefail\n" + script],
            env={**env, "KEY": ADMIN},
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert '"imported":1500' in run.stdout.replace(" ", "")
        assert run.stdout.strip().splitlines()[-1] == "done"
        header = (work / "estimates.csv").read_text().splitlines()[0]
        assert header.startswith("lhs,op,rhs,label,group,est,se,") and "se.std" in header
        assert "<svg" in (work / "model.svg").read_text()[:200]
