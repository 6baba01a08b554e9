"""Progress a person can follow: ordered lines, a time left measured in sensible units, a live bar."""
import io
import subprocess

import pytest

from suite.progress import Progress, duration
from test_sweeps import ROOT, TINY, sweep_command, write_study


def test_durations_read_well():
    assert [duration(s) for s in (0.4, 42, 150, 5400, 7200)] == ["0 s", "42 s", "2.5 min", "90.0 min", "2.0 h"]


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_time_left_comes_from_the_time_measured_so_far():
    clock, out = Clock(), io.StringIO()
    progress = Progress({"a": 2, "b": 2, "c": 0}, out, live=False, clock=clock)  # c: evaluation only, 1 unit
    assert progress.time_left() is None
    clock.now = 10.0
    progress.update("a", 1.0, "a: epoch 1/2")
    assert progress.time_left() == pytest.approx(40.0)  # 1 of 5 units in 10 s
    clock.now = 20.0
    progress.done("a", "[1/3 done] a")
    assert progress.time_left() == pytest.approx(30.0)
    assert out.getvalue().splitlines() == ["a: epoch 1/2", "[1/3 done] a (20 s so far, about 30 s left)"]


def test_time_left_weighs_each_run_by_its_cost():
    """Small runs done first do not make the deep ones ahead look as quick: an epoch of a run that
    costs 10 times more counts 10 times."""
    clock = Clock()
    progress = Progress({"small": 2, "deep": 2}, io.StringIO(), live=False, clock=clock,
                        cost={"small": 1.0, "deep": 10.0})
    clock.now = 4.0
    progress.done("small", "[1/2 done] small")
    assert progress.time_left() == pytest.approx(40.0)  # 2 units in 4 s; 20 to go (epochs alike: 4 s)
    clock.now = 24.0
    progress.update("deep", 1.0, "deep: epoch 1/2")
    assert progress.time_left() == pytest.approx(20.0)


def test_epochs_resumed_from_a_checkpoint_do_not_count_as_this_sweeps_pace():
    clock = Clock()
    progress = Progress({"a": 200}, io.StringIO(), live=False, clock=clock)
    progress.update("a", 30.0, "resumed after epoch 30", resumed=True)
    assert progress.time_left() is None  # nothing measured yet
    clock.now = 60.0
    progress.update("a", 31.0, "epoch 31/200")
    assert progress.time_left() == pytest.approx(169 * 60.0)  # one epoch a minute, 169 to go


def test_a_live_bar_moves_within_epochs():
    out = io.StringIO()
    progress = Progress({"a": 4}, out, live=True)
    progress.update("a", 0.5)
    assert progress.bar.n == 0.5
    progress.update("a", 1.0, "epoch 1/4")
    progress.close()
    text = out.getvalue()
    assert "1.0/4 epochs" in text and "\repoch 1/4\n" in text  # the line printed above the bar


def test_sweep_lines_are_ordered_and_name_the_modes(tmp_path):
    """Two workers at once: every run's epoch lines come before its done line, in epoch order."""
    study = write_study(tmp_path, TINY.replace('seed = [0, 1, 2]', 'seed = [0, 1]'))
    done = subprocess.run(sweep_command(study, tmp_path / "r", "--workers", "2"), cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    finished = [line for line in lines if line.startswith("[")]
    assert len(finished) == 6 and "left)" in finished[0]
    for run in range(1, 7):
        mine = [i for i, line in enumerate(lines) if line.startswith(f"    run {run}, ")]
        epochs = [lines[i].split(": epoch ")[1][:3] for i in mine]
        assert epochs == ["1/2", "2/2"], (run, lines)
        end = next(i for i, line in enumerate(lines) if line.startswith("[") and f"] run {run}, " in line)
        assert max(mine) < end
    iep = next(line for line in lines if " iep " in line and "epoch 2/2" in line)
    assert "validation error ff 0." in iep and "ff+relax@20 0." in iep and "relax@20 0." in iep
