"""A study is data: a TOML file whose ``[[runs]]`` blocks expand to a list of RunConfigs.

    name = "quick"
    ladder = [1, 2, 4, 8, 16, 32, 64]   # relax@T budgets evaluated at the last checkpoint
    checkpoints = [1, 5, 10]            # epochs to evaluate at (default: every epoch; last: always)
    timing_repeats = 3                  # timed passes per inference measurement (median kept)
    collapse_error = 0.5                # a seed whose final error is at or above this did not train
    abort_if_error_above = 0.5          # stop a run whose training error is still above this ...
    abort_after_epoch = 2               # ... at an evaluated epoch from this one on (default: never stop)
    diagnostics = true                  # record gradient alignment and saturation (default: false)
    [base]                              # RunConfig fields every run shares
    dataset = "mnist"
    [[runs]]                            # lists expand to a product ...
    algorithm = "ep"
    backend = ["torch", "jax"]
    sizes = [[784, 500, 10], [784, 500, 500, 10]]
    lrs = [[0.1, 0.05], [0.4, 0.1, 0.01]]
    zip = [["sizes", "lrs"]]            # ... except fields zipped together, which vary in step
    exclude = [{backend = "torch", T_neg = 4}]
    [[scales.full]]                     # --scale full: the same runs, these fields replaced ...
    train_size = 50000
    epochs = 20
    [[scales.full]]                     # ... and these where the run matches `where`
    where = {sizes = [784, 500, 500, 500, 10]}
    epochs = 10

A tuple-valued field (sizes, lrs, eval_modes) takes a flat list as one value and a list of lists as
options. A scale runs the same question larger (or smaller): the study at scale `full` is named
`<name>.full`, so each scale keeps its own results folder, and its claims are judged apart (CLAIMS.md
sets the verdicts of each scale side by side). Everything is validated before anything runs; errors
name the file and the field.
"""
from __future__ import annotations

import dataclasses
import itertools
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .claims import KINDS as CLAIM_KINDS, Claim
from .config import ConfigError, RunConfig
from .run import SPLITS
from .variants import LABEL_ORDER

RUN_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}
TUPLE_FIELDS = {name for name, f in RUN_FIELDS.items() if isinstance(f.default, tuple)}
PRESETS = ("smoke", "quick", "paper", "depth")
STUDY_NAME = r"\w[\w.-]*"  # a folder of its own under the results: never '.', '..' or a path


@dataclass(frozen=True)
class Study:
    name: str
    description: str
    runs: tuple[RunConfig, ...]
    ladder: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    checkpoints: tuple[int, ...] = ()  # epochs to evaluate at (empty: every epoch; the last always)
    # validation chooses the budgets and matched errors that test then reports (suite.costs)
    ladder_splits: tuple[str, ...] = ("validation", "test")
    residual_steps: int = 64
    residual_tol: float = 1e-3
    timing_repeats: int = 3  # timed passes per inference measurement (the median is kept)
    collapse_error: float = 0.5  # a seed whose final error is at or above this did not train
    abort_if_error_above: float | None = None  # stop a run whose training error is above this ...
    abort_after_epoch: int = 2  # ... at an evaluated epoch from this one on: status 'collapsed'
    diagnostics: bool = False  # gradient alignment and saturation at every evaluated epoch (costs time)
    claims: tuple = ()  # suite.claims.Claim: what the study expects, judged from its outcomes
    scale: str = ""  # the scale it runs at ('': as its runs are written); its name then ends in '.<scale>'
    scales: tuple[str, ...] = ()  # the scales its file offers
    source: str = ""
    text: str = field(default="", compare=False)  # the TOML as written, stored beside the results

    @property
    def file_name(self) -> str:
        """The name its file gives it, without the scale: 'steps' for 'steps.full'."""
        return self.name.removesuffix(f".{self.scale}") if self.scale else self.name


#: A study file's settings when it leaves them out: the Study's own defaults, written once.
DEFAULTS = {f.name: f.default for f in dataclasses.fields(Study)}
STUDY_KEYS = {"name", "description", "ladder", "checkpoints", "ladder_splits", "residual_steps", "residual_tol",
              "timing_repeats", "collapse_error", "abort_if_error_above", "abort_after_epoch", "diagnostics", "claims",
              "base", "runs", "scales", "scale"}
BLOCK_KEYS = set(RUN_FIELDS) | {"zip", "exclude"}


def _error(source, where, message):
    raise ConfigError(f"{source}: {where}: {message}")


def _options(source, where, name, value) -> list:
    """The list of values a field takes in one block."""
    if name in TUPLE_FIELDS:
        if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            return [tuple(v) for v in value]
        if isinstance(value, list):
            return [tuple(value)]
        _error(source, f"{where}.{name}", f"{value!r} is not allowed; give a list (or a list of lists)")
    if isinstance(value, list):
        if not value:
            _error(source, f"{where}.{name}", "an empty list is not allowed; give at least one value")
        return value
    return [value]


def expand_block(source: str, where: str, block: dict, base: dict) -> list[RunConfig]:
    unknown = sorted(set(block) - BLOCK_KEYS)
    if unknown:
        _error(source, f"{where}.{unknown[0]}", f"unknown field; allowed: {', '.join(sorted(BLOCK_KEYS))}")
    zips = block.get("zip", [])
    if not isinstance(zips, list) or not all(isinstance(z, list) for z in zips):
        _error(source, f"{where}.zip", f"{zips!r} is not allowed; give a list of lists of field names")
    options = {name: _options(source, where, name, value) for name, value in block.items()
               if name not in ("zip", "exclude")}
    zipped = [name for group in zips for name in group]
    for group in zips:
        missing = [n for n in group if n not in options]
        if missing:
            _error(source, f"{where}.zip", f"{missing[0]!r} is zipped but not given in this block")
        lengths = {len(options[n]) for n in group}
        if len(lengths) != 1:
            _error(source, f"{where}.zip", f"fields {group} must have the same number of options, "
                   f"got {[len(options[n]) for n in group]}")
    axes = [[{name: v} for v in values] for name, values in options.items() if name not in zipped]
    axes += [[dict(zip(group, values)) for values in zip(*(options[n] for n in group))] for group in zips]
    excludes = block.get("exclude", [])
    if not isinstance(excludes, list) or not all(isinstance(e, dict) for e in excludes):
        _error(source, f"{where}.exclude", f"{excludes!r} is not allowed; give a list of tables")
    for e in excludes:
        if set(e) - set(RUN_FIELDS):
            _error(source, f"{where}.exclude", f"unknown field {sorted(set(e) - set(RUN_FIELDS))[0]!r}; "
                   f"allowed: {', '.join(RUN_FIELDS)}")
    configs = []
    for combination in itertools.product(*axes):
        fields = {**base}
        for part in combination:
            fields.update(part)
        if any(all(_same(_value(fields, k), v) for k, v in e.items()) for e in excludes):
            continue
        try:
            configs.append(RunConfig(**fields))
        except ConfigError as err:  # name [base] when the value at fault came from there
            _error(source, "base" if err.field in base and err.field not in block else where, str(err))
        except TypeError as err:
            _error(source, where, f"bad field: {err}")
    return configs


def _value(fields: dict, name: str):
    """A run's field: as the study sets it, else RunConfig's default (so exclude can match it)."""
    return fields[name] if name in fields else RUN_FIELDS[name].default


def _same(have, want):
    return have == (tuple(want) if isinstance(want, list) else want)


def from_dict(data: dict, source: str, text: str = "") -> Study:
    unknown = sorted(set(data) - STUDY_KEYS)
    if unknown:
        _error(source, unknown[0], f"unknown key; allowed: {', '.join(sorted(STUDY_KEYS))}")
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(STUDY_NAME, name):
        _error(source, "name", f"{name!r} is not allowed; give letters, digits, '_', '-' or '.', starting with a "
               "letter, digit or '_' (it names the study's folder)")
    base = data.get("base", {})
    if not isinstance(base, dict):
        _error(source, "base", "must be a table of RunConfig fields")
    unknown = sorted(set(base) - set(RUN_FIELDS))
    if unknown:
        _error(source, f"base.{unknown[0]}", f"unknown field; allowed: {', '.join(RUN_FIELDS)}")
    base = {k: tuple(v) if k in TUPLE_FIELDS and isinstance(v, list) else v for k, v in base.items()}
    blocks = data.get("runs")
    if not isinstance(blocks, list) or not blocks:
        _error(source, "runs", "give at least one [[runs]] block")
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            _error(source, f"runs[{i}]", f"{block!r} is not allowed; each [[runs]] block is a table of "
                   "RunConfig fields")
    runs = [cfg for i, block in enumerate(blocks) for cfg in expand_block(source, f"runs[{i}]", block, base)]
    if not runs:
        _error(source, "runs", "every combination is excluded: nothing to run")
    # every scale is validated, whichever runs
    scaled = {scale: [at_scale(source, f"scales.{scale}", cfg, entries) for cfg in runs]
              for scale, entries in _scales(source, data.get("scales", {})).items()}
    scale = data.get("scale", "")
    if not isinstance(scale, str):
        _error(source, "scale", f"{scale!r} is not allowed; give the name of one of the study's scales")
    if scale:
        if scale not in scaled:
            _error(source, "scale", f"{scale!r} is not a scale of this study; choose one of "
                   f"{', '.join(scaled) or '(none: it has no [[scales.NAME]] tables)'}")
        runs, name = scaled[scale], f"{name}.{scale}"
    ladder = data.get("ladder", list(DEFAULTS["ladder"]))
    if not isinstance(ladder, list) or not ladder or not all(_whole(t, 0) for t in ladder):
        _error(source, "ladder", f"{ladder!r} is not allowed; give a list of whole numbers >= 0")
    checkpoints = data.get("checkpoints", list(DEFAULTS["checkpoints"]))
    if not isinstance(checkpoints, list) or not all(_whole(e, 1) for e in checkpoints):
        _error(source, "checkpoints", f"{checkpoints!r} is not allowed; give a list of epochs >= 1 "
               "(empty: every epoch)")
    splits = data.get("ladder_splits", list(DEFAULTS["ladder_splits"]))
    if not isinstance(splits, list) or not splits or any(s not in SPLITS for s in splits):
        _error(source, "ladder_splits", f"{splits!r} is not allowed; choose from {', '.join(SPLITS)}")
    residual_steps = data.get("residual_steps", DEFAULTS["residual_steps"])
    if not _whole(residual_steps, 0):
        _error(source, "residual_steps", f"{residual_steps!r} is not allowed; give a whole number >= 0")
    repeats = data.get("timing_repeats", DEFAULTS["timing_repeats"])
    if not _whole(repeats, 1):
        _error(source, "timing_repeats", f"{repeats!r} is not allowed; give a whole number >= 1")
    tol = data.get("residual_tol", DEFAULTS["residual_tol"])
    if not isinstance(tol, (int, float)) or isinstance(tol, bool) or not tol > 0:
        _error(source, "residual_tol", f"{tol!r} is not allowed; give a number > 0")
    collapse = data.get("collapse_error", DEFAULTS["collapse_error"])
    if not isinstance(collapse, (int, float)) or isinstance(collapse, bool) or not 0 < collapse <= 1:
        _error(source, "collapse_error", f"{collapse!r} is not allowed; give an error rate in (0, 1]")
    abort = data.get("abort_if_error_above", DEFAULTS["abort_if_error_above"])
    if abort is not None and (not isinstance(abort, (int, float)) or isinstance(abort, bool) or not 0 < abort < 1):
        _error(source, "abort_if_error_above", f"{abort!r} is not allowed; give an error rate in (0, 1)")
    abort_after = data.get("abort_after_epoch", DEFAULTS["abort_after_epoch"])
    if not _whole(abort_after, 1):
        _error(source, "abort_after_epoch", f"{abort_after!r} is not allowed; give an epoch >= 1")
    diagnostics = data.get("diagnostics", DEFAULTS["diagnostics"])
    if not isinstance(diagnostics, bool):
        _error(source, "diagnostics", f"{diagnostics!r} is not allowed; give true or false")
    claims = tuple(_claim(source, f"claims[{i}]", c, runs) for i, c in enumerate(_tables(source, "claims", data)))
    return Study(name, str(data.get("description", "")), tuple(runs), tuple(sorted(set(ladder))),
                 tuple(sorted(set(checkpoints))), tuple(splits), residual_steps, float(tol), repeats,
                 float(collapse), None if abort is None else float(abort), abort_after, diagnostics, claims, scale,
                 tuple(scaled), source, text)


def _scales(source: str, tables) -> dict[str, list[dict]]:
    """Each scale's list of changes: fields to replace, each list entry where its `where` matches."""
    if not isinstance(tables, dict):
        _error(source, "scales", "give [[scales.NAME]] tables of RunConfig fields")
    scales = {}
    for name, entries in tables.items():
        where = f"scales.{name}"
        entries = [entries] if isinstance(entries, dict) else entries
        if not re.fullmatch(r"\w+", name) or not isinstance(entries, list) or not entries or \
                not all(isinstance(e, dict) for e in entries):
            _error(source, where, "give [[scales.NAME]] tables of RunConfig fields, NAME of letters, digits or '_'")
        for entry in entries:
            unknown = sorted(set(entry) - set(RUN_FIELDS) - {"where"})
            if unknown:
                _error(source, f"{where}.{unknown[0]}", f"unknown field; allowed: where, {', '.join(RUN_FIELDS)}")
            if not isinstance(entry.get("where", {}), dict) or set(entry.get("where", {})) - set(RUN_FIELDS):
                _error(source, f"{where}.where", f"{entry['where']!r} is not allowed; give a table of RunConfig "
                       "fields and their values")
        scales[name] = entries
    return scales


def at_scale(source: str, where: str, cfg: RunConfig, entries: list[dict]) -> RunConfig:
    """cfg with the fields of each entry that applies to it replaced (in order), validated."""
    for entry in entries:
        if all(_same(getattr(cfg, k), v) for k, v in entry.get("where", {}).items()):
            changes = {k: tuple(v) if k in TUPLE_FIELDS and isinstance(v, list) else v
                       for k, v in entry.items() if k != "where"}
            try:
                cfg = dataclasses.replace(cfg, **changes)
            except ConfigError as err:
                _error(source, where, str(err))
    return cfg


def with_scale(text: str, scale: str | None) -> str:
    """A study file's text that runs at scale (stored beside its results, so the store reads it back
    at that scale)."""
    return f"scale = {scale!r}\n{text}" if scale else text


CLAIM_KEYS = {"says", "where", "than", "pair_on", "mode", "tolerance", "text", "source"}


def _tables(source, key, data) -> list:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        _error(source, key, f"{value!r} is not allowed; give [[{key}]] tables")
    return value


def _claim(source, where, table: dict, runs) -> Claim:
    """A validated claim whose variants the study runs (suite.claims)."""
    unknown = sorted(set(table) - CLAIM_KEYS)
    if unknown:
        _error(source, f"{where}.{unknown[0]}", f"unknown key; allowed: {', '.join(sorted(CLAIM_KEYS))}")
    says = table.get("says")
    if says not in CLAIM_KINDS:
        _error(source, f"{where}.says", f"{says!r} is not allowed; choose one of {', '.join(CLAIM_KINDS)}")
    comparing = says in ("matches", "beats")
    if comparing != ("than" in table):
        _error(source, f"{where}.than", "needed by matches and beats, and only by them")
    for name in ("where", "than") if comparing else ("where",):
        fields = table.get(name)
        if not isinstance(fields, dict) or not fields or set(fields) - set(LABEL_ORDER):
            _error(source, f"{where}.{name}", f"{fields!r} is not allowed; give a table of fields that make a "
                   f"variant ({', '.join(LABEL_ORDER)}) and their values")
        if not any(all(_same(getattr(cfg, k), v) for k, v in fields.items()) for cfg in runs):
            _error(source, f"{where}.{name}", f"no run of the study has {fields}")
    mode = table.get("mode")
    if mode is not None and mode not in ("relax", "ff", "ff+relax"):
        _error(source, f"{where}.mode", f"{mode!r} is not allowed; choose one of relax, ff, ff+relax")
    tolerance = table.get("tolerance", 1.0)
    if not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool) or tolerance < 0:
        _error(source, f"{where}.tolerance", f"{tolerance!r} is not allowed; give percentage points >= 0")
    pair_on = table.get("pair_on")
    if pair_on is not None and (not comparing or not isinstance(pair_on, list) or set(pair_on) - set(LABEL_ORDER)):
        _error(source, f"{where}.pair_on", f"{pair_on!r} is not allowed; with matches or beats, a list of fields "
               "that make a variant")
    return Claim(says, dict(table["where"]), dict(table["than"]) if comparing else None, mode, float(tolerance),
                 str(table.get("text", "")), str(table.get("source", "")), tuple(pair_on) if pair_on else None)


def _whole(value, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def load(path: str | Path, scale: str | None = None) -> Study:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--study {path}: no such study file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"--study {path}: not UTF-8 text (byte {err.start}); a study file is TOML") from None
    except OSError as err:  # a directory, no permission, ...
        raise ConfigError(f"--study {path}: cannot be read ({err.strerror}); give a study TOML file") from None
    return from_text(with_scale(text, scale), str(path))


def from_text(text: str, source: str) -> Study:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{source}: not valid TOML: {err}") from None
    return from_dict(data, source, text)


def preset(name: str, scale: str | None = None) -> Study:
    if name not in PRESETS:
        raise ConfigError(f"preset: {name!r} is unknown; choose one of {', '.join(PRESETS)}")
    text = resources.files("suite.presets").joinpath(f"{name}.toml").read_text()
    return from_text(with_scale(text, scale), f"preset {name}")
