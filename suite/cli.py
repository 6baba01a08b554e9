"""Command line: ``python -m suite run --algorithm iep --lam 0.1 --backend jax``."""
from __future__ import annotations

import argparse
import dataclasses
import sys

from .config import ConfigError, RunConfig
from .data import DataError


def _parse_bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per RunConfig field, typed from its default."""
    for field in dataclasses.fields(RunConfig):
        default = field.default
        option = "--" + field.name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(option, type=_parse_bool, metavar="true|false", help=f"default: {default}")
        elif isinstance(default, tuple):
            item = str if field.name == "eval_modes" else type(default[0]) if default else str
            shown = " ".join(map(str, default)) or "per algorithm"
            parser.add_argument(option, type=item, nargs="+", help=f"default: {shown}")
        elif field.name in ("train_size", "eval_size"):
            parser.add_argument(option, type=int, help="default: all")
        else:
            parser.add_argument(option, type=type(default) if default is not None else str,
                                help=f"default: {default!r}")


def _print_table(rows: list[dict]) -> None:
    last = max(r["epoch"] for r in rows)
    final = [r for r in rows if r["epoch"] == last]
    print(f"\n{'split':<11} {'mode':<14} {'error':>7} {'mult-adds':>11} {'s / 10k':>9}")
    for r in final:
        print(f"{r['split']:<11} {r['mode']:<14} {r['error']:>7.4f} {r['mult_adds']:>11,} "
              f"{r['seconds_per_10k']:>9.3f}")
    first = final[0]
    print(f"training: {first['train_seconds']:.1f} s in epoch {last}, warm-up {first['warmup_seconds']:.2f} s; "
          f"{first['backend']} on {first['device']}, {first['threads']} threads")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m suite", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train and evaluate one configuration (SPEC.md)")
    _add_config_options(run)
    args = parser.parse_args(argv)

    from .run import train_and_evaluate  # heavy imports only once arguments are known good
    options = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    try:
        cfg = RunConfig(**options)
        rows = train_and_evaluate(cfg, progress=lambda message: print(message, flush=True))
    except (ConfigError, DataError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _print_table(rows)
    return 0
