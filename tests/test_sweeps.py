"""Sweeps that survive: resume, kill -9 anywhere, the lock, divergence, missing backends, Dask."""
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import backends
import pandas as pd
import pytest

from conftest import child_processes
from suite import identity, provenance, records, report
from suite.cli import main
from suite.config import RunConfig
from suite.executors import LocalExecutor
from suite.run import EvaluationPlan
from suite.store import RunStore

ROOT = Path(__file__).resolve().parent.parent
TINY = """name = "tiny"
ladder = [1, 4]
residual_steps = 4
[base]
dataset = "synthetic"
backend = "numpy"
sizes = [64, 16, 10]
train_size = 400
epochs = 2
[[runs]]
algorithm = ["ep", "iep", "bp"]
lam = [0.0, 1.0, 0.0]
zip = [["algorithm", "lam"]]
seed = [0, 1, 2]
"""


def write_study(tmp_path, text=TINY, name="tiny.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    """A table without what differs between two sweeps of the same study: times and dates."""
    return table.drop(columns=[c for c in records.TIMING_COLUMNS if c in table]).reset_index(drop=True)


def sweep_command(study: Path, results: Path, *extra) -> list[str]:
    return [sys.executable, "-m", "suite", "run", "--study", str(study), "--results", str(results),
            "--no-plots", "--threads", "1", *extra]


def run_sweep(study: Path, results: Path, *extra) -> subprocess.CompletedProcess:
    return subprocess.run(sweep_command(study, results, *extra), cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted sweep of the tiny study: its table and how long it took."""
    tmp = tmp_path_factory.mktemp("reference")
    study = write_study(tmp)
    start = time.perf_counter()
    done = run_sweep(study, tmp / "results")
    assert done.returncode == 0, done.stderr
    return comparable(records.load_table(tmp / "results" / "tiny")), time.perf_counter() - start


def test_a_second_sweep_skips_finished_runs_and_force_reruns_them(tmp_path, capsys):
    study = write_study(tmp_path)
    args = ["run", "--study", str(study), "--results", str(tmp_path / "r"), "--no-plots", "--threads", "1"]
    assert main(args) == 0
    first = records.load_table(tmp_path / "r" / "tiny")
    capsys.readouterr()
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "9 of 9 runs already finished" in out and "0 runs to go" in out
    pd.testing.assert_frame_equal(records.load_table(tmp_path / "r" / "tiny"), first)  # timings too
    assert main(args + ["--force"]) == 0
    out = capsys.readouterr().out
    assert "already finished" not in out and "9 runs to go" in out
    assert "resumed" not in out  # --force starts every run over, not from its checkpoint
    again = records.load_table(tmp_path / "r" / "tiny")
    assert not again["date"].equals(first["date"]) or not again["train_seconds"].equals(first["train_seconds"])
    pd.testing.assert_frame_equal(comparable(again), comparable(first))


def stored_runs(results: Path) -> int:
    return len(list((results / "tiny" / "runs").glob("*.rows.parquet")))


@pytest.mark.parametrize("kill_after_runs", [0, 3, 8])
def test_kill_9_anywhere_then_rerun_gives_the_uninterrupted_table(tmp_path, reference, kill_after_runs):
    """kill -9 the sweep once it has stored `kill_after_runs` runs (0: while it starts), rerun it."""
    table, _ = reference
    study = write_study(tmp_path)
    results = tmp_path / "results"
    sweep = subprocess.Popen(sweep_command(study, results), cwd=ROOT, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while kill_after_runs and stored_runs(results) < kill_after_runs and time.monotonic() < deadline:
        time.sleep(0.005)
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    finished_before = stored_runs(results)
    assert finished_before < 9, "the sweep ended before the kill: nothing was tested"
    done = run_sweep(study, results)
    assert done.returncode == 0, done.stderr
    expected = f"{finished_before} of 9 runs already finished" if finished_before else "9 runs to go"
    assert expected in done.stdout
    resumed = comparable(records.load_table(results / "tiny"))
    pd.testing.assert_frame_equal(resumed, table)  # row for row: none lost, none twice
    assert not list((results / "tiny").rglob(".*.tmp"))


def test_the_workers_of_a_killed_sweep_end_with_it(tmp_path):
    """kill -9 a sweep running two workers mid-run: no process it started outlives it."""
    study = write_study(tmp_path, TINY.replace("epochs = 2", "epochs = 50"))
    results = tmp_path / "results"
    sweep = subprocess.Popen(sweep_command(study, results, "--workers", "2"), cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    workers = {}
    while len(workers) < 2 and time.monotonic() < deadline:  # both workers started, and running
        workers = {pid: cmd for pid, cmd in child_processes(sweep.pid).items() if "spawn_main" in cmd}
        time.sleep(0.05)
    assert len(workers) == 2, f"the sweep did not start two workers: {child_processes(sweep.pid)}"
    descendants = set(child_processes(sweep.pid))
    time.sleep(1.0)  # the workers are inside their runs now
    sweep.send_signal(signal.SIGKILL)
    sweep.wait()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in descendants) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in descendants if alive(pid)], "a worker outlived its sweep"


def alive(pid: int) -> bool:
    """Whether a process exists and has not ended (a zombie has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("ending", ["error", "stop"])
def test_a_sweep_that_ends_early_ends_its_running_runs_at_once(tmp_path, ending):
    """Two workers; one run ends at once (by an error, or with a result after which the sweep reads
    no more) while the other has a minute of training left: the sweep ends within seconds, and ends
    that run's worker with it."""
    short = RunConfig(dataset="synthetic", backend="numpy", sizes=(64, 16, 10), train_size=400)
    # a minute in 40 epochs: its few progress reports fit in the pipe unread (before the fix, many blocked it)
    long = short.replace(sizes=(64, 500, 500, 10), lrs=(0.1, 0.05, 0.01), epochs=40)
    (tmp_path / "file").write_text("x")  # saving a checkpoint under a file raises after the first epoch
    checkpoint = tmp_path / "file" / "run.checkpoint.npz" if ending == "error" else None
    tasks = [(long, EvaluationPlan(), None), (short, EvaluationPlan(), checkpoint)]
    before = set(child_processes(os.getpid()))
    start = time.monotonic()
    outcomes = LocalExecutor(workers=2, threads=1).map(tasks)
    if ending == "error":
        with pytest.raises(FileExistsError):
            next(outcomes)
    else:
        assert next(outcomes).index == 1
        outcomes.close()
    seconds = time.monotonic() - start
    left = {pid: command for pid, command in child_processes(os.getpid()).items()
            if pid not in before and "spawn_main" in command}
    assert seconds < 10, f"the sweep ended {seconds:.1f} s after its start: it waited for the long run"
    assert not left, f"workers outlived the sweep: {left}"


def test_a_second_sweep_on_the_same_directory_is_refused(tmp_path, capsys):
    study = write_study(tmp_path)
    with RunStore(tmp_path / "r" / "tiny").lock():
        assert main(["run", "--study", str(study), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "another sweep is writing here" in err and f"pid {os.getpid()}" in err
    assert not (tmp_path / "r" / "tiny" / "rows.parquet").exists()


def test_a_killed_sweep_does_not_leave_its_directory_locked(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import time
        from suite.store import RunStore
        with RunStore({str(tmp_path / 'r')!r}).lock():
            print("locked", flush=True)
            time.sleep(60)""")], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    with pytest.raises(Exception, match="another sweep"):
        with RunStore(tmp_path / "r").lock():
            pass
    holder.kill()
    holder.wait()
    with RunStore(tmp_path / "r").lock():  # the kernel dropped the dead process's lock
        pass


DIVERGING = TINY.replace('seed = [0, 1, 2]', 'seed = [0]') + """
[[runs]]
algorithm = "bp"
lrs = [1000.0, 1000.0]
"""


def test_the_table_of_unfinished_runs_names_the_fields_that_vary(tmp_path):
    diverging = ONE_RUN.replace('algorithm = "bp"', 'algorithm = "bp"\nlrs = [1000.0, 1000.0]\nbatch_size = [10, 20]')
    sweep_here(diverging, tmp_path)
    stopped = report.unfinished(records.load_table(tmp_path / "tiny"))
    assert list(stopped.columns) == ["algorithm", "backend", "sizes", "batch_size", "seed", "status", "epoch", "note"]
    assert sorted(stopped["batch_size"]) == [10, 20] and set(stopped["status"]) == {"diverged"}


def test_a_diverged_run_is_recorded_and_the_sweep_goes_on(tmp_path, capsys):
    study = write_study(tmp_path, DIVERGING)
    assert main(["run", "--study", str(study), "--results", str(tmp_path / "r"), "--threads", "1"]) == 0
    rows = records.load_table(tmp_path / "r" / "tiny")
    bad = rows[rows["lrs"] == "1000.0 1000.0"]
    assert set(bad["status"]) == {"diverged"}
    stop = bad[bad["split"] == ""]
    assert len(stop) == 1 and stop["epoch"].item() == 1 and "NaN or inf in epoch 1" in stop["note"].item()
    assert (bad.loc[bad["split"] != "", "epoch"] == 0).all()  # only what was measured before it
    good = rows[rows["lrs"] != "1000.0 1000.0"]
    assert set(good["status"]) == {"ok"} and good["run_id"].nunique() == 3
    summary = (tmp_path / "r" / "tiny" / "summary.md").read_text()
    assert "Runs that did not finish" in summary and "diverged" in summary
    assert "bp numpy 64-16-10 seed 0: the weights or persistent states became NaN" in capsys.readouterr().out
    assert (tmp_path / "r" / "tiny" / "figures" / "learning_curves.png").exists()  # drawn, not crashed


def test_runs_of_a_missing_backend_are_skipped_with_the_reason(tmp_path):
    """jax made uninstallable in the sweep and its workers: the numpy runs still run."""
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys
        class HideJax:
            def find_spec(self, name, path=None, target=None):
                if name == "jax" or name.startswith("jax."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        sys.meta_path.insert(0, HideJax())"""))
    study = write_study(tmp_path, TINY.replace("seed = [0, 1, 2]", 'seed = [0]\nbackend = ["numpy", "jax"]'))
    env = {**os.environ, "PYTHONPATH": f"{hide}{os.pathsep}{ROOT}"}
    done = subprocess.run(sweep_command(study, tmp_path / "r"), cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    rows = records.load_table(tmp_path / "r" / "tiny")
    skipped = rows[rows["backend"] == "jax"]
    assert len(skipped) == 3 and set(skipped["status"]) == {"skipped"}
    assert skipped["note"].str.contains("pip install").all()
    assert set(rows.loc[rows["backend"] == "numpy", "status"]) == {"ok"}
    assert "skipped: backend 'jax' needs a library that is not installed" in done.stdout


def test_a_tls_scheduler_without_a_client_certificate_is_one_line():
    pytest.importorskip("distributed")
    import dask

    from suite import executors
    from suite.config import ConfigError
    with dask.config.set({"distributed.comm.tls.ca-file": None}), pytest.raises(ConfigError) as err:
        executors.make("dask", scheduler="tls://127.0.0.1:8799")
    assert "no certificate for the client" in str(err.value) and "\n" not in str(err.value)


def test_dask_local_cluster_gives_the_local_executor_table(tmp_path, reference):
    distributed = pytest.importorskip("distributed")
    study = write_study(tmp_path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert main(["run", "--study", str(study), "--results", str(tmp_path / "r"), "--no-plots",
                     "--executor", "dask", "--scheduler", cluster.scheduler_address, "--threads", "1"]) == 0
    pd.testing.assert_frame_equal(comparable(records.load_table(tmp_path / "r" / "tiny")), reference[0])


@pytest.mark.parametrize("options, message", [
    (["--executor", "slurm"], "--executor: 'slurm' is not allowed; choose one of local, dask"),
    (["--workers", "0"], "--workers: 0 is not allowed; give a whole number >= 1"),
    (["--threads", "-2"], "--threads: -2 is not allowed"),
    (["--executor", "dask"], "--scheduler: required with --executor dask"),
    (["--scheduler", "tcp://x:1"], "--scheduler: only used with --executor dask"),
])
@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]])
def test_bad_executor_options_exit_2_and_write_nothing(tmp_path, capsys, options, message, dry_run):
    study = write_study(tmp_path)
    assert main(["run", "--study", str(study), "--results", str(tmp_path / "r"), *options, *dry_run]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_a_study_whose_every_run_diverged_still_ends_cleanly(tmp_path, capsys):
    study = write_study(tmp_path, TINY.split("[[runs]]")[0] + '[[runs]]\nalgorithm = "bp"\nlrs = [1000.0, 1000.0]\n')
    assert main(["run", "--study", str(study), "--results", str(tmp_path / "r"), "--threads", "1"]) == 0
    assert "no figures" in capsys.readouterr().out
    assert "| diverged |" in (tmp_path / "r" / "tiny" / "summary.md").read_text()


def copy_of_the_code(tmp_path) -> Path:
    """The suite's code in a folder of its own, to change without touching the repository."""
    copy = tmp_path / "code"
    for name in ("suite", "backends"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def fingerprints_of(root) -> dict[tuple[str, str], str]:
    from suite.algorithms import ALGORITHMS
    return {(a, b): identity.code_fingerprint.__wrapped__(a, b, root) for a in ALGORITHMS for b in backends.NAMES}


def append_comment(path: Path) -> None:
    with open(path, "a") as handle:
        handle.write("\n# a comment\n")


def test_the_code_fingerprint_covers_the_code_a_run_executes(tmp_path):
    """A run's fingerprint changes with the shared numeric core, its algorithm's module (and what it
    imports) and its backend's module, and with nothing else: not with the figures, another
    backend, an algorithm it never runs, or a new algorithm module."""
    copy = copy_of_the_code(tmp_path)
    before = fingerprints_of(copy)
    assert before == {pair: identity.code_fingerprint(*pair) for pair in before}  # the same code, the same fingerprint
    assert len(set(before.values())) == len(before)
    append_comment(copy / "suite" / "plots.py")  # figures compute no numbers
    shutil.copy(copy / "suite" / "algorithms" / "contrastive.py", copy / "suite" / "algorithms" / "another.py")
    assert fingerprints_of(copy) == before
    append_comment(copy / "backends" / "torch_backend.py")
    after = fingerprints_of(copy)
    assert {pair for pair in before if after[pair] != before[pair]} == {pair for pair in before if pair[1] == "torch"}
    append_comment(copy / "suite" / "algorithms" / "iep.py")
    before, after = after, fingerprints_of(copy)
    assert {pair for pair in before if after[pair] != before[pair]} == {pair for pair in before if pair[0] == "iep"}
    append_comment(copy / "suite" / "algorithms" / "ep.py")  # what bptt, iep and the clamping algorithms import
    before, after = after, fingerprints_of(copy)
    assert {pair[0] for pair in before if after[pair] != before[pair]} == {"ep", "iep", "bptt", "coupled", "contrastive"}
    for shared in ("suite/algorithms/energy.py", "suite/run.py", "backends/base.py"):
        append_comment(copy / shared)
        before, after = after, fingerprints_of(copy)
        assert all(after[pair] != before[pair] for pair in before), shared


def test_a_code_change_reruns_the_stored_runs(tmp_path):
    """Touch an algorithm file: the next sweep reruns every run, the table is marked while it holds
    rows of both versions, and no stored run of the old code is left once all are rerun."""
    copy = copy_of_the_code(tmp_path)
    study, results = write_study(tmp_path), tmp_path / "results"

    def sweep(*extra, wait=True):
        command = sweep_command(study, results, *extra)
        if wait:
            return subprocess.run(command, cwd=copy, capture_output=True, text=True, timeout=300)
        return subprocess.Popen(command, cwd=copy, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    assert sweep().returncode == 0
    old = set(records.load_table(results / "tiny")["code_fingerprint"])
    with open(copy / "suite" / "algorithms" / "energy.py", "a") as handle:  # shared by every algorithm
        handle.write("\n# a change to the numeric code\n")
    interrupted = sweep(wait=False)
    deadline = time.monotonic() + 120
    new = old
    while time.monotonic() < deadline:
        fingerprints = set(records.load_table(results / "tiny")["code_fingerprint"])
        if fingerprints - old:
            new = fingerprints - old
            break
        time.sleep(0.01)
    interrupted.send_signal(signal.SIGKILL)
    interrupted.wait()
    assert new != old, "the sweep never stored a run of the changed code"
    table = subprocess.run([sys.executable, "-m", "suite", "table", "--results", str(results)], cwd=copy,
                           capture_output=True, text=True, timeout=120)
    assert "Mixed code" in table.stdout and f"{new.pop()} (" in table.stdout
    done = sweep()
    assert done.returncode == 0, done.stderr
    assert "stored runs were computed by other code" in done.stdout or "stored run was computed" in done.stdout
    rows = records.load_table(results / "tiny")
    assert not rows["code_fingerprint"].isin(old).any() and rows["run_id"].nunique() == 9
    assert "Mixed code" not in (results / "tiny" / "summary.md").read_text()
    assert len(list((results / "tiny" / "runs").glob("*.rows.parquet"))) == 9  # the old ones replaced


def test_one_thread_holds_jax_to_one_core(tmp_path):
    """--threads 1: a jax run's training keeps one core busy (CPU seconds over wall seconds near 1),
    though XLA has no thread-count option: its pool follows the worker's cores."""
    pytest.importorskip("jax")
    study = write_study(tmp_path, TINY.split("[[runs]]")[0].replace('backend = "numpy"', 'backend = "jax"')
                        .replace("sizes = [64, 16, 10]", "sizes = [64, 512, 512, 10]\nlrs = [0.1, 0.05, 0.01]")
                        .replace("train_size = 400", "train_size = 1000\nbatch_size = 100") + '[[runs]]\nalgorithm = "ep"\n')
    assert main(["run", "--study", str(study), "--results", str(tmp_path / "r"), "--no-plots", "--threads", "1"]) == 0
    epochs = records.load_table(tmp_path / "r" / "tiny").query("epoch > 0").drop_duplicates("epoch")
    assert (epochs["train_cpu_seconds"] <= 1.1 * epochs["train_seconds"]).all(), epochs[["train_seconds",
                                                                                          "train_cpu_seconds"]]


class InThisProcess:
    """An executor that trains each run here, one after another: provenance monkeypatched in the
    test reaches the runs (a pool's workers would compute their own), and nothing is spawned."""
    data_here = True

    def __init__(self, missing: str = ""):
        self.missing = missing  # a backend whose runs are skipped, as if its library were not installed

    def describe(self) -> str:
        return "this process"

    def map(self, tasks, on_progress, notify):
        from suite.executors import Outcome
        from suite.run import train_and_evaluate
        for index, (cfg, plan, checkpoint) in enumerate(tasks):
            yield Outcome(index, None, "skipped", f"{cfg.backend} is not installed") if cfg.backend == self.missing else \
                Outcome(index, train_and_evaluate(cfg, plan=plan, checkpoint=checkpoint))


ONE_RUN = TINY.split("[[runs]]")[0].replace("epochs = 2", "epochs = 1") + '[[runs]]\nalgorithm = "bp"\nseed = [0]\n'


def sweep_here(text: str, results: Path, executor=None) -> str:
    """Sweep the study in this process; what it printed."""
    import io

    from suite import study as studies
    from suite.sweep import run_study
    out = io.StringIO()
    run_study(studies.from_text(text, "test"), results, executor or InThisProcess(), stream=out, live=False)
    return out.getvalue()


def provenance_of(rows: pd.DataFrame) -> set:
    """The distinct provenance of rows, dates aside (a resumed run's rows may differ in them)."""
    columns = [c for c in provenance.COLUMNS if c != "date"]
    return set(rows[columns].itertuples(index=False, name=None))


@pytest.mark.parametrize("status, text", [
    ("diverged", ONE_RUN.replace('algorithm = "bp"', 'algorithm = "bp"\nlrs = [1000.0, 1000.0]')),
    ("collapsed", "abort_if_error_above = 0.5\nabort_after_epoch = 2\n" + ONE_RUN.replace(
        "epochs = 1", "epochs = 2").replace('algorithm = "bp"', 'algorithm = "ep"\nlrs = [1e-6, 1e-6]'))])
def test_status_rows_carry_the_provenance_of_the_run_that_made_them(tmp_path, status, text):
    sweep_here(text, tmp_path)
    rows = records.load_table(tmp_path / "tiny")
    stop, measured = rows[rows["split"] == ""], rows[rows["split"] != ""]
    assert list(stop["status"]) == [status] and not measured.empty
    assert stop[list(provenance.COLUMNS)].notna().all(axis=None)
    assert provenance_of(stop) == provenance_of(measured)


def test_a_skipped_run_carries_the_provenance_of_its_sweep(tmp_path):
    sweep_here(ONE_RUN.replace("seed = [0]", 'seed = [0]\nbackend = ["numpy", "torch"]'), tmp_path,
               InThisProcess(missing="torch"))
    skipped = records.load_table(tmp_path / "tiny").query("status == 'skipped'")
    assert list(skipped["backend"]) == ["torch"]
    here = provenance.collect({}, RunConfig(algorithm="bp", backend="torch"))  # its own code fingerprint
    for name in provenance.COLUMNS:
        assert skipped[name].item() == here[name] or name == "date", name


def test_a_study_whose_every_run_is_skipped_still_writes_its_tables_and_summary(tmp_path):
    sweep_here(ONE_RUN, tmp_path, InThisProcess(missing="numpy"))
    rows = records.load_table(tmp_path / "tiny")
    assert list(rows["status"]) == ["skipped"] and rows["error"].isna().all()
    assert "numpy is not installed" in (tmp_path / "tiny" / "summary.md").read_text()


def test_a_run_that_stops_before_measuring_takes_the_sweep_provenance():
    from suite.run import RunResult
    from suite.sweep import tidy
    here = {**provenance.collect({}), "cpu": "the sweep's"}
    rows, _, _ = tidy(RunResult([], [], "diverged", 0, "NaN or inf"), RunConfig(), "run-id", here)
    assert rows["cpu"].item() == "the sweep's" and rows["code_fingerprint"].item() == identity.run_fingerprint(RunConfig())


def test_a_sweep_from_an_edited_tree_into_a_clean_study_warns_once_and_goes_on(tmp_path, monkeypatch):
    real = provenance.collect

    def tree(dirty: bool):  # the sweep's and its runs' git_dirty
        monkeypatch.setattr(provenance, "collect", lambda *args: {**real(*args), "git_dirty": dirty})

    def seeds(*values):
        return ONE_RUN.replace("seed = [0]", f"seed = {list(values)}")

    warning = "came from a clean tree, and this sweep runs from one with uncommitted changes"
    tree(False)
    assert warning not in sweep_here(seeds(0), tmp_path)
    tree(True)
    assert warning not in sweep_here(seeds(0), tmp_path)  # nothing to run: nothing added
    out = sweep_here(seeds(0, 1), tmp_path)
    assert out.count(warning) == 1
    rows = records.load_table(tmp_path / "tiny")
    assert rows.groupby("seed")["git_dirty"].unique().map(list).to_dict() == {0: [False], 1: [True]}
    assert warning not in sweep_here(seeds(0, 1, 2), tmp_path)  # the study is no longer clean


KILLABLE = TINY.split("[[runs]]")[0].replace("epochs = 2", "epochs = 1") + """[[runs]]
algorithm = "iep"
lam = 1.0
epochs = 40
[[runs]]
algorithm = "bp"
seed = [0, 1]
"""


def test_a_worker_killed_by_the_os_costs_its_run_not_the_sweep(tmp_path):
    """SIGKILL the worker mid-run, as the out-of-memory killer would: that run is recorded as killed,
    the others finish, and the next sweep resumes it from its checkpoint to the uninterrupted table."""
    study, results = write_study(tmp_path, KILLABLE), tmp_path / "results"
    sweep = subprocess.Popen(sweep_command(study, results, "--workers", "1"), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(results.glob("tiny/runs/*.checkpoint.npz")) and time.monotonic() < deadline:
        time.sleep(0.002)
    [worker] = [pid for pid, command in child_processes(sweep.pid).items() if "spawn_main" in command]
    os.kill(worker, signal.SIGKILL)
    out, err = sweep.communicate(timeout=120)
    assert sweep.returncode == 0, err
    rows = records.load_table(results / "tiny")
    killed = rows[rows["status"] == "killed"]
    assert len(killed) == 1 and killed["algorithm"].item() == "iep", out
    assert "worker process was killed by SIGKILL (the kernel's out-of-memory killer" in killed["note"].item()
    assert set(rows.loc[rows["algorithm"] == "bp", "status"]) == {"ok"}
    assert "a worker process died; 2 unfinished runs go on in new worker processes" in out
    assert re.search(r"\| killed +\|", (results / "tiny" / "summary.md").read_text())
    again = run_sweep(study, results)
    assert again.returncode == 0 and "2 of 3 runs already finished" in again.stdout and "resumed after epoch" in again.stdout
    uninterrupted = run_sweep(study, tmp_path / "uninterrupted")
    pd.testing.assert_frame_equal(comparable(records.load_table(results / "tiny")),
                                  comparable(records.load_table(tmp_path / "uninterrupted" / "tiny")))


def test_dask_runs_whose_worker_dies_are_recorded_as_killed_and_the_rest_finish(tmp_path):
    distributed = pytest.importorskip("distributed")
    import dask
    study = write_study(tmp_path, KILLABLE.replace("epochs = 40", "epochs = 400"))

    def kill_the_first_busy_worker(scheduler):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = [ws for ws in list(scheduler.workers.values()) if ws.processing]
            if busy:
                os.kill(busy[0].pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    # the first death fails the tasks the worker held (Dask counts those queued on it too)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster:
        killer = threading.Thread(target=kill_the_first_busy_worker, args=(cluster.scheduler,))
        killer.start()
        assert main(["run", "--study", str(study), "--results", str(tmp_path / "r"), "--no-plots",
                     "--executor", "dask", "--scheduler", cluster.scheduler_address, "--threads", "1"]) == 0
        killer.join()
    runs = records.load_table(tmp_path / "r" / "tiny").drop_duplicates("run_id")
    killed = runs[runs["status"] == "killed"]
    assert len(killed) >= 1 and killed["note"].str.startswith("the Dask workers running it died").all()
    assert set(runs["status"]) == {"ok", "killed"} and len(runs) == 3


def test_a_dask_sweep_with_no_worker_says_it_waits_for_one(monkeypatch):
    distributed = pytest.importorskip("distributed")
    from suite import executors
    monkeypatch.setattr(executors, "DASK_POLL_SECONDS", 0.2)
    task = (RunConfig(dataset="synthetic", backend="numpy", sizes=(64, 16, 10), train_size=400), EvaluationPlan(), None)
    with distributed.LocalCluster(n_workers=0, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            executors.DaskExecutor(cluster.scheduler_address) as executor:
        notes = []

        def notify(line):
            notes.append(line)
            cluster.scale(1)  # the worker the sweep waits for

        [outcome] = executor.map([task], notify=notify)
    assert notes == [f"waiting: no Dask worker is connected to {cluster.scheduler_address}; 1 run to go waits "
                     "for one (start it with: dask worker ADDRESS)"]
    assert outcome.result.status == "ok"


def test_workers_that_die_before_taking_any_run_end_the_sweep_with_one_line():
    from types import SimpleNamespace

    from suite.executors import ExecutorError, LocalExecutor
    processes = {11: SimpleNamespace(exitcode=1, join=lambda: None), 12: SimpleNamespace(exitcode=-15, join=lambda: None)}
    with pytest.raises(ExecutorError) as err:
        list(LocalExecutor._killed({0: "task"}, {}, processes, print))
    assert str(err.value) == ("--executor local: the worker processes died before they could start a run (exited "
                              "with code 1, was killed by SIGTERM)")
