"""A run's identity: its configuration key, and the fingerprint of the numeric code it executes.

run_id = '<config key>-<code fingerprint>' names a stored run (suite.store); a sweep reuses a stored run
only under today's id, or under an older fingerprint recorded as computing the same bits
(EQUIVALENT_CODE, written by suite.equivalence).
"""
from __future__ import annotations

import ast
import dataclasses
import functools
import hashlib
import json
import tomllib
from dataclasses import asdict
from pathlib import Path

import backends

from .algorithms import MODULES
from .config import RunConfig

SCHEMA_VERSION = 4  # 2: status rows and the note column; 3: the code_fingerprint column; 4: the isa column
ROOT = Path(__file__).resolve().parent.parent
#: The numeric code every run executes: the run loop (training, evaluation, timing), the compiled step,
#: the data, the libraries' kernel caps, the algorithms' registry and shared core, and the backends'
#: protocol. A run's fingerprint hashes these, its algorithm's module and its backend's module, with
#: what those two import from their packages (code_fingerprint): a change there changes the run's key,
#: so stored results are never reused across it, and a module a run never executes is not part of it.
CORE_CODE = ("suite/engine.py", "suite/run.py", "suite/data.py", "suite/isa.py", "suite/algorithms/__init__.py",
             "suite/algorithms/algorithm.py", "suite/algorithms/energy.py", "suite/algorithms/feedforward.py",
             "suite/algorithms/inference.py", "backends/__init__.py", "backends/base.py")


#: Old fingerprints recorded as computing the same bits as today's (see equivalent_fingerprints).
EQUIVALENT_CODE = Path("results") / "equivalent_code.toml"


def imported_sources(path: Path, root: Path) -> set[Path]:
    """path and the files of its package that it imports, transitively (relative imports, and
    absolute ones of the suite's and backends' packages), found by reading, not running, the code."""
    packages = (root / "suite" / "algorithms", root / "backends")
    found, todo = set(), [path]
    while todo:
        source = todo.pop()
        if source in found or not source.exists() or not any(source.is_relative_to(p) for p in packages):
            continue
        found.add(source)
        package = source.parent
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.ImportFrom):
                base = (package if node.level == 1 else root).joinpath(*(node.module or "").split("."))
                todo += [base.with_suffix(".py"), base / "__init__.py"] + [base / f"{alias.name}.py" for alias in node.names]
            elif isinstance(node, ast.Import):
                todo += [root.joinpath(*alias.name.split(".")).with_suffix(".py") for alias in node.names]
    return found


@functools.lru_cache(maxsize=None)
def code_fingerprint(algorithm: str, backend: str, root: Path = ROOT) -> str:
    """Hash of the numeric code a run of this algorithm on this backend executes (CORE_CODE, and the
    two modules with what they import), paths and contents, in a fixed order."""
    module = root / "suite" / "algorithms" / f"{MODULES[algorithm]}.py"
    sources = {root / name for name in CORE_CODE} | imported_sources(module, root) | \
        imported_sources(root / "backends" / f"{backends.module_name(backend)}.py", root)
    digest = hashlib.sha256()
    for source in sorted(sources):
        digest.update(source.relative_to(root).as_posix().encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()[:10]


def run_fingerprint(cfg: RunConfig) -> str:
    return code_fingerprint(cfg.algorithm, cfg.backend)


class BadEquivalence(ValueError):
    """The record of equivalent code cannot be read; the message names the file and the entry."""


def equivalences(record: Path | None = None) -> list[dict]:
    """The entries of the record (default: the repository's, EQUIVALENT_CODE): each an old fingerprint,
    and the fingerprints of today's code, per 'algorithm backend', shown to compute the same bits."""
    record = ROOT / EQUIVALENT_CODE if record is None else record
    if not record.exists():
        return []
    try:
        entries = tomllib.loads(record.read_text()).get("equivalent", [])
    except tomllib.TOMLDecodeError as err:
        raise BadEquivalence(f"{record}: not TOML ({err})") from None
    for k, entry in enumerate(entries):
        if not (isinstance(entry, dict) and isinstance(entry.get("old"), str) and isinstance(entry.get("new"), dict)
                and all(isinstance(v, str) for v in entry["new"].values())):
            raise BadEquivalence(f"{record}: equivalent[{k}] needs old = \"<fingerprint>\" and new = "
                                 "{\"<algorithm> <backend>\" = \"<fingerprint>\", ...}")
    return entries


def equivalent_fingerprints(cfg: RunConfig) -> list[str]:
    """The older fingerprints recorded as computing the same bits as cfg's run does today, nearest
    first (an entry's old code may itself be recorded as equivalent to older code)."""
    pair, found = f"{cfg.algorithm} {cfg.backend}", []
    wanted = [run_fingerprint(cfg)]
    entries = equivalences()
    while wanted:
        current = wanted.pop(0)
        for entry in entries:
            if entry["new"].get(pair) == current and entry["old"] not in found:
                found.append(entry["old"])
                wanted.append(entry["old"])
    return found


def stored_ids(cfg: RunConfig, plan) -> list[str]:
    """The ids under which a finished run of cfg counts as today's: its run_id, then those of the
    older code recorded as equivalent (equivalent_fingerprints)."""
    return [run_id(cfg, plan)] + [run_id(cfg, plan, old) for old in equivalent_fingerprints(cfg)]


def config_key(cfg: RunConfig, plan) -> str:
    """Stable hash of a run's configuration, evaluation plan and the row schema."""
    key = json.dumps({"config": asdict(cfg), "plan": list(plan), "schema": SCHEMA_VERSION},
                     sort_keys=True, default=list)
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def run_id(cfg: RunConfig, plan, code: str | None = None) -> str:
    """'<config key>-<code fingerprint>': everything that determines a run's rows."""
    return f"{config_key(cfg, plan)}-{code or run_fingerprint(cfg)}"


def training_id(cfg: RunConfig, plan) -> str:
    """Like run_id, for the run's training whatever its length: the same configuration with more
    epochs goes through the same states (and rows), so it can start from this one's checkpoint."""
    return f"training-{config_key(dataclasses.replace(cfg, epochs=1), plan)}-{run_fingerprint(cfg)}"
