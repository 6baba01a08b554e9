"""Where and with what a row was measured: the code (its fingerprint, commit and whether the tree was
edited), the machine (cpu, the libraries' kernel caps, threads) and the libraries' versions."""
from __future__ import annotations

import datetime
import json
import platform
import subprocess
from pathlib import Path

from . import identity, isa
from .config import RunConfig

COLUMNS = ("code_fingerprint", "git_commit", "git_dirty", "backend_device", "threads", "cpu", "isa",
                      "date", "versions")


def git(*args) -> str:
    """git's output in this repository, stripped; '' where git or the repository is missing."""
    root = Path(__file__).resolve().parent.parent
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def collect(describe: dict, cfg: RunConfig | None = None) -> dict:
    """Where and with what a row was measured (the code fingerprint: of cfg's run; without one, '')."""
    versions = {k: v for k, v in describe.items() if k in ("numpy", "torch", "jax", "jaxlib", "torch_compile")}
    return {"code_fingerprint": identity.run_fingerprint(cfg) if cfg else "", "git_commit": git("rev-parse", "HEAD") or "unknown",
            # results/ is excluded: a sweep rewriting its own tables does not make the code dirty
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".",
                                   ":(exclude)results")),
            "backend_device": describe.get("device", ""), "threads": describe.get("threads", 0),
            "cpu": _cpu_model(), "isa": isa.describe(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "versions": json.dumps(versions, sort_keys=True)}
