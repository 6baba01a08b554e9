"""Command line.

    python -m suite run [--preset quick | --study FILE.toml [--scale full]] [--results results]   a whole study
        [--force] [--executor local --workers N | --executor dask --scheduler tcp://HOST:8786] [--threads N]
    python -m suite plot [--results results] [STUDY ...]       figures from stored tables only
    python -m suite table [--results results] [STUDY ...]      the summary of stored tables
    python -m suite status [--results results] [STUDY ...]     what made them, what today's code would rerun
    python -m suite equivalence OLD_FINGERPRINT [...]          whether today's code gives the old runs' bits
    python -m suite train --algorithm iep --lam 0.1 --backend jax                  one configuration
"""
from __future__ import annotations

import argparse
import dataclasses
import errno
import functools
import sys
from pathlib import Path

from backends import BackendOptionError

from .claims import ClaimError
from .config import ConfigError, RunConfig, field_doc
from .data import DataError
from .executors import ExecutorError
from .identity import BadEquivalence
from .records import BadTable
from .store import RunStore, StudyLocked


def _parse_bool(text: str) -> bool:
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not true or false")


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    """One option per RunConfig field, typed from its default and explained by its documentation."""
    for field in dataclasses.fields(RunConfig):
        default = field.default
        option = "--" + field.name.replace("_", "-")
        shown = " ".join(map(str, default)) if isinstance(default, tuple) else default
        text = field_doc(field.name) + (f" (default: {shown})" if shown not in ("", None) else "")
        if isinstance(default, bool):
            parser.add_argument(option, type=_parse_bool, metavar="true|false", help=text)
        elif isinstance(default, tuple):
            item = type(default[0]) if default else str
            parser.add_argument(option, type=item, nargs="+", metavar="VALUE", help=text)
        elif field.name in ("train_size", "eval_size"):
            parser.add_argument(option, type=int, metavar="N", help=text)
        else:
            parser.add_argument(option, type=type(default) if default is not None else str, help=text)


def _print_table(rows: list[dict]) -> None:
    last = max(r["epoch"] for r in rows)
    final = [r for r in rows if r["epoch"] == last]
    print(f"\n{'split':<11} {'mode':<14} {'error':>7} {'mult-adds':>11} {'s / 10k':>9}")
    for r in final:
        print(f"{r['split']:<11} {r['mode']:<14} {r['error']:>7.4f} {r['mult_adds']:>11,} "
              f"{r['seconds_per_10k']:>9.3f}")
    first = final[0]
    print(f"training: {first['train_seconds']:.1f} s in epoch {last}, warm-up {first['warmup_seconds']:.2f} s; "
          f"{first['backend']} on {first['backend_device']}, {first['threads']} threads")


def _study_dirs(results: Path, names: list[str]) -> list[Path]:
    """The named studies, or every study stored under results (ablations/ included)."""
    if not results.is_dir():
        raise FileNotFoundError(f"--results {results}: not a folder")
    dirs = [results / n for n in names] if names else sorted(p.parent for p in results.rglob("rows.parquet"))
    missing = [d for d in dirs if not (d / "rows.parquet").exists()]
    if missing or not dirs:
        raise FileNotFoundError(f"no stored results in {missing[0] if missing else results}: "
                                "run a study first (python -m suite run)")
    return dirs


class _Parser(argparse.ArgumentParser):
    """A bad command line is one line and exit 2, as every other bad input is (no usage block)."""

    def error(self, message):
        self.exit(2, f"error: {self.prog}: {message} (--help lists the options)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m suite", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a study (default: the quick preset), store tables, draw figures")
    source = run.add_mutually_exclusive_group()
    source.add_argument("--preset", default="quick", help="smoke (seconds), quick (default, ~5 min on 2 cores "
                        "with --workers 2), paper (days), depth (about a day)")
    source.add_argument("--study", help="a study TOML file (see suite/presets/*.toml and ablations/)")
    run.add_argument("--scale", help="one of the study's [[scales.NAME]]: the same runs at another scale, into "
                     "<results>/<study>.NAME/ (default: as its runs are written)")
    run.add_argument("--results", default="results", type=Path, help="results root (default: results/)")
    run.add_argument("--no-plots", action="store_true", help="store tables only")
    run.add_argument("--force", action="store_true", help="run again the runs that already finished")
    run.add_argument("--dry-run", action="store_true", help="print the expanded runs, their count and an "
                     "estimate of their training time; run nothing")
    run.add_argument("--executor", default="local", help="local (a process pool, the default) or dask")
    run.add_argument("--workers", type=int, help="local: runs at once (default 1)")
    run.add_argument("--threads", type=int, help="threads per run (default: local, the cores / workers; "
                     "dask, 1)")
    run.add_argument("--scheduler", help="dask: the scheduler's address, tcp://HOST:8786")
    for name, text in (("plot", "redraw every figure from stored tables"), ("table", "print stored summaries"),
                       ("status", "what made each stored study (code, commits, edits) and what today's code "
                        "would reuse or recompute; reads only")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("studies", nargs="*", help="study names (default: every study under --results)")
        sub.add_argument("--results", default="results", type=Path)
    same = commands.add_parser("equivalence", help="replay short forms of the stored runs of an older code "
                               "fingerprint in its commit and here; where every one agrees bit for bit, record that "
                               "the old runs are today's (suite/equivalence.py)")
    same.add_argument("fingerprints", nargs="+", help="old code fingerprints (suite status lists the stored ones)")
    same.add_argument("--results", default="results", type=Path)
    train = commands.add_parser("train", help="train and evaluate one configuration (docs/method.md)")
    _add_config_options(train)
    args = parser.parse_args(argv)

    try:
        return COMMANDS[args.command](args)
    except (ConfigError, ClaimError, BackendOptionError, DataError, ImportError, FileNotFoundError,
            StudyLocked, BadTable, BadEquivalence, ExecutorError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the disk or the folders: a full disk, a read-only folder, a file where a folder goes
        full = err.errno in (errno.ENOSPC, errno.EDQUOT)
        if not (full or err.filename):
            raise
        stored = "; finished runs are stored, so run the same command again to resume" if args.command == "run" else ""
        remedy = "free some space" if full else "fix that path, or choose another --results"
        print(f"error: {err.filename or 'the disk'}: {err.strerror}: {remedy}{stored}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory for this configuration (its sizes, batch_size or train_size)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # a sweep's finished runs are stored; `run` again resumes from the last checkpoints
        resume = ": finished runs are stored; run the same command again to resume" if args.command == "run" else ""
        print(f"interrupted{resume}", file=sys.stderr)
        return 130


def _run(args) -> int:
    from . import executors
    from . import study as studies
    from .sweep import run_study
    chosen = studies.load(args.study, args.scale) if args.study else studies.preset(args.preset, args.scale)
    executors.check_options(args.executor, args.workers, args.threads, args.scheduler)
    if args.dry_run:
        from .sweep import dry_run
        print(f"study {chosen.name}: {chosen.description}\n{dry_run(chosen, args.workers or 1)}")
        return 0
    with executors.make(args.executor, args.workers, args.threads, args.scheduler) as executor:
        print(f"study {chosen.name}: {len(chosen.runs)} runs. {chosen.description}", flush=True)
        run_study(chosen, args.results, executor, args.force)
    directory = args.results / chosen.name
    if not args.no_plots:  # first, so that summary.md shows the figures
        _plot(argparse.Namespace(results=args.results, studies=[chosen.name]))
    _print_summary(directory)
    _print_answer(directory, args.no_plots)
    return 0


def _print_answer(directory: Path, no_plots: bool) -> None:
    """What a sweep ends with: its answer, a sentence per depth, and where its figure is."""
    from . import records, report
    rows, settings = records.load_table(directory), _stored_study(directory)
    answers = report.answer_lines(rows, settings.claims, settings.collapse_error)
    if answers:
        figure = directory / "figures" / f"{report.answer_figure(rows, settings.claims, settings.collapse_error)}.png"
        print(f"\nThe answer ({directory}/summary.md):\n" + "".join(f"  {a}\n" for a in answers)
              + ("" if no_plots else f"The figure: {figure}"))


def _print_summary(directory: Path) -> None:
    """Rewrite summary.md / summary.csv from the stored tables and print them (a folder that cannot
    be written is still read)."""
    from . import records, report
    rows, residuals = records.load_table(directory), records.load_table(directory, "residuals")
    settings = _stored_study(directory)
    table, text = report.summary_report(rows, residuals, settings.residual_tol, settings.collapse_error,
                                         settings.claims, report.drawn_figures(directory))
    try:
        report.save_summary(table, text, directory)
    except OSError as err:
        print(f"note: {directory}: summary.md not rewritten ({err.strerror}); printed from the stored tables",
              file=sys.stderr)
    print(f"\n# {directory.name}\n\n{text}")


def _stored_study(directory: Path):
    """The study stored beside its results (its settings: residual_tol, collapse_error), or defaults."""
    from .study import Study
    return RunStore(directory).study() or Study("", "", ())


def _plot(args) -> int:
    from .plots import draw_all
    for directory in _study_dirs(args.results, args.studies):
        paths = draw_all(directory, _stored_study(directory).collapse_error)
        if paths:
            print(f"{len(paths)} figures in {directory / 'figures'}/ (headline: {paths[0]})")
        else:
            print(f"no figures for {directory}: no run finished (summary.md lists why)")
    return 0


def _table(args) -> int:
    import pandas as pd

    from . import records, report
    verdicts = []
    for directory in _study_dirs(args.results, args.studies):
        _print_summary(directory)
        settings = _stored_study(directory)
        if settings.claims:
            rows = records.load_table(directory)
            judged = report.judged_claims(rows, settings.claims, settings.collapse_error, settings.file_name)
            verdicts.append(judged.assign(scale=report.scale_words(rows)))
    if verdicts:
        text = ("# Claims across the stored studies\n\nEach claim as its study states it, its verdict (supported, "
                "refuted, inconclusive when the seeds disagree) and the seed counts behind it, at each scale its "
                "study was run at (`--scale`); `changes with scale` marks a claim whose verdict is not the same at "
                "every scale. The rules are in suite/claims.py.\n\n"
                + claims_by_scale(pd.concat(verdicts)).to_markdown(index=False) + "\n")
        records.save_text(text, args.results / "CLAIMS.md")
        print(f"claims: {args.results / 'CLAIMS.md'}")
    return 0


def claims_by_scale(verdicts):
    """Each claim's verdicts at its scales side by side (smallest first, as the studies list them),
    and whether the verdict changes with scale."""
    verdicts = verdicts.assign(order=range(len(verdicts)))
    keys = ["study", "claim"]
    changes = verdicts.groupby(keys)["verdict"].transform("nunique") > 1
    verdicts = verdicts.assign(**{"changes with scale": changes.map({True: "yes", False: ""})})
    first = verdicts.groupby(keys)["order"].transform("min")
    verdicts = verdicts.assign(first=first).sort_values(["first", "order"])
    columns = keys + ["scale", "verdict", "changes with scale", "says", "source", "evidence"]
    return verdicts[columns]


def _status(args) -> int:
    from .status import report
    print("\n\n".join(report(directory) for directory in _study_dirs(args.results, args.studies)))
    return 0


def _train(args) -> int:
    from .progress import Progress
    from .run import train_and_evaluate  # heavy imports only once arguments are known good
    options = {k: v for k, v in vars(args).items() if k != "command" and v is not None}
    cfg = RunConfig(**options)
    progress = Progress({"run": cfg.epochs})
    result = train_and_evaluate(cfg, report=functools.partial(progress.update, "run"))
    progress.close()
    if result.status != "ok":  # its rows stop before the failure: no result to print as one
        print(f"error: the run {result.status}: {result.note}", file=sys.stderr)
        return 1
    _print_table(result.rows)
    return 0


def _equivalence(args) -> int:
    from . import identity
    from .equivalence import NotEquivalent, check
    for fingerprint in args.fingerprints:
        try:
            evidence = check(fingerprint, args.results)
        except NotEquivalent as err:
            print(f"not equivalent: {err}", file=sys.stderr)
            return 1
        print(f"recorded in {identity.EQUIVALENT_CODE}; the runs compared: {evidence}")
    return 0


COMMANDS = {"run": _run, "plot": _plot, "table": _table, "status": _status, "equivalence": _equivalence,
            "train": _train}
