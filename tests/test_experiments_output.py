"""The experiments' output folder under races and interrupts, and their worker pool.

An output that is a dangling link is refused before the run; a second run into
the same folder never replaces the first one's files (and keeps its own
results where it says); the worker pool stops at once when the run is
interrupted, and its workers leave Ctrl-C to the parent.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from divergences import cli
from divergences.experiments import report


def _never(folder: Path, *args: object) -> dict[str, Path]:
    raise AssertionError("the run started")


def _written(folder: Path) -> dict[str, Path]:
    paths = {key: folder / name for key, name in report.FILES.items()}
    for path in paths.values():
        path.write_text("second run")
    return paths


def _staging_named_in(error: BaseException) -> Path:
    match = re.search(r"this run's results are in (\S+?):", str(error))
    assert match is not None, str(error)
    return Path(match.group(1))


# ---------------------------------------------------------------------------
# symbolic links


def test_a_dangling_link_is_refused_before_the_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(report, "_write_all", _never)
    link = tmp_path / "dang"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError) as raised:
        report.run(link)
    message = str(raised.value)
    assert str(link) in message and str(tmp_path / "nowhere") in message
    assert "does not exist" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dang"]  # no staging folder
    # the command says it in one line, before any work
    pytest.importorskip("matplotlib")
    assert cli.main(["gradients", "--quick", "--device", "cpu", "--output", str(link)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("divergences gradients: ")
    assert str(tmp_path / "nowhere") in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dang"]


def test_a_link_to_a_file_names_what_it_points_to(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "_write_all", _never)
    target = tmp_path / "notes.txt"
    target.write_text("keep")
    link = tmp_path / "results"
    link.symlink_to(target)
    with pytest.raises(FileExistsError, match="which is not a folder") as raised:
        report.run(link)
    assert str(target) in str(raised.value)
    assert target.read_text() == "keep"


def test_a_link_to_a_folder_is_written_through(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "_write_all", lambda folder, *args: _written(folder))
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    report.run(link)
    assert sorted(p.name for p in real.iterdir()) == sorted(report.FILES.values())
    assert link.is_symlink()


# ---------------------------------------------------------------------------
# two runs into the same folder


def _racing_writer(output: Path, other: dict[str, str]):
    """A run into ``output``, which receives ``other`` (name: text) from another run
    while this one works (the folder made if need be, as the other run's move does)."""

    def write(folder: Path, *args: object) -> dict[str, Path]:
        output.mkdir(exist_ok=True)
        for name, text in other.items():
            (output / name).write_text(text)
        return _written(folder)

    return write


def test_a_second_run_into_a_new_folder_keeps_the_first_ones_files(tmp_path, monkeypatch):
    output = tmp_path / "results"
    monkeypatch.setattr(
        report, "_write_all", _racing_writer(output, {"gradients.json": "first run"})
    )
    with pytest.raises(FileExistsError, match="nothing was replaced") as raised:
        report.run(output)
    assert sorted(p.name for p in output.iterdir()) == ["gradients.json"]
    assert (output / "gradients.json").read_text() == "first run"
    staging = _staging_named_in(raised.value)
    assert staging.parent == tmp_path and staging.name.startswith(".results-")
    assert sorted(p.name for p in staging.iterdir()) == sorted(report.FILES.values())
    assert (staging / "gradients.json").read_text() == "second run"


def test_a_second_run_into_an_empty_folder_keeps_the_first_ones_files(tmp_path, monkeypatch):
    output = tmp_path / "results"
    output.mkdir()
    # another name than this run's files: nothing would be replaced, but the folder is
    # no longer the empty one this run was given
    monkeypatch.setattr(
        report, "_write_all", _racing_writer(output, {"generators.json": "first run"})
    )
    with pytest.raises(FileExistsError, match="nothing was replaced") as raised:
        report.run(output)
    assert sorted(p.name for p in output.iterdir()) == ["generators.json"]
    assert (_staging_named_in(raised.value) / "gradients.csv").read_text() == "second run"


def test_a_file_that_appears_during_the_move_is_not_replaced(tmp_path, monkeypatch):
    """The last window: the folder was empty when checked, and the other run's file
    lands between this run's moves of two files."""
    monkeypatch.setattr(report, "_write_all", lambda folder, *args: _written(folder))
    output = tmp_path / "results"
    output.mkdir()
    real_open = os.open
    calls = []

    def open_racing(path, flags, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            Path(path).write_text("first run")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_racing)
    with pytest.raises(FileExistsError, match="nothing was replaced") as raised:
        report.run(output)
    monkeypatch.undo()
    second = Path(calls[1]).name
    # the other run's file is intact, and this run left nothing of its own in the folder
    assert sorted(p.name for p in output.iterdir()) == [second]
    assert (output / second).read_text() == "first run"
    staging = _staging_named_in(raised.value)
    assert sorted(p.name for p in staging.iterdir()) == sorted(report.FILES.values())


def test_an_empty_folder_made_meanwhile_is_no_obstacle(tmp_path, monkeypatch):
    output = tmp_path / "results"
    monkeypatch.setattr(report, "_write_all", _racing_writer(output, {}))
    paths = report.run(output)
    assert paths["json"].read_text() == "second run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


def test_overwrite_replaces_what_another_run_wrote_meanwhile(tmp_path, monkeypatch):
    output = tmp_path / "results"
    monkeypatch.setattr(
        report,
        "_write_all",
        _racing_writer(output, {"gradients.json": "first run", "notes.txt": "notes"}),
    )
    paths = report.run(output, overwrite=True)
    assert paths["json"].read_text() == "second run"
    assert (output / "notes.txt").read_text() == "notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # no staging left


def test_the_command_says_where_the_results_are(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    output = tmp_path / "results"
    monkeypatch.setattr(
        report, "_write_all", _racing_writer(output, {"gradients.json": "first run"})
    )
    assert cli.main(["gradients", "--quick", "--device", "cpu", "--output", str(output)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("divergences gradients: ")
    staging = _staging_named_in(RuntimeError(err))
    assert (staging / "gradients.json").read_text() == "second run"
    assert (output / "gradients.json").read_text() == "first run"


# ---------------------------------------------------------------------------
# interrupts: deferred through the move, and the worker pool


def test_an_interrupt_during_the_move_comes_after_every_file_is_in_place(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "_write_all", lambda folder, *args: _written(folder))
    output = tmp_path / "results"
    output.mkdir()
    real_replace = os.replace

    def replace_interrupted(source, target):
        signal.raise_signal(signal.SIGINT)  # Ctrl-C while the files are being moved
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace_interrupted)
    with pytest.raises(KeyboardInterrupt):
        report.run(output)
    monkeypatch.undo()
    assert sorted(p.name for p in output.iterdir()) == sorted(report.FILES.values())
    assert all((output / name).read_text() == "second run" for name in report.FILES.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_an_interrupted_pool_stops_at_once_and_leaves_no_worker():
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt), report._pool(2) as pool:
        # six calls of 5 s on two workers: the executor's own exit would wait 15 s
        futures = [pool.submit(time.sleep, 5) for _ in range(6)]
        pids = list(pool._processes)
        time.sleep(0.5)
        raise KeyboardInterrupt
    assert time.monotonic() - start < 3
    assert len(pids) == 2 and not any(_alive(pid) for pid in pids)
    # nothing ran to its end, and what had not reached the workers' queue was cancelled:
    # the executor hands at most workers + 1 calls to that queue beside the two running,
    # how many by the time of the interrupt depends on the machine's load
    assert not any(f.done() and not f.cancelled() and f.exception() is None for f in futures)
    assert futures[-1].cancelled()


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_a_failing_run_stops_the_pool_without_waiting_for_the_rest():
    start = time.monotonic()
    with pytest.raises(ValueError, match="invalid literal"), report._pool(2) as pool:
        failing = pool.submit(int, "x")
        for _ in range(6):
            pool.submit(time.sleep, 5)
        pids = list(pool._processes)
        failing.result(timeout=30)
    assert time.monotonic() - start < 5  # the executor's own exit waits 15 s for the rest
    assert not any(_alive(pid) for pid in pids)


def test_workers_leave_ctrl_c_to_the_parent():
    with report._pool(2) as pool:
        try:
            outcome = pool.submit(signal.raise_signal, signal.SIGINT).result(timeout=60)
        except KeyboardInterrupt:  # the worker took it: pytest must not see it as ours
            outcome = "the worker was interrupted"
    assert outcome is None


def test_signals_held_in_the_block_are_delivered_after_it():
    reached = []
    with pytest.raises(KeyboardInterrupt), report._signals_deferred():
        signal.raise_signal(signal.SIGINT)
        reached.append("the end of the block")
    assert reached == ["the end of the block"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
