"""The headline experiment's files: run everything, write JSON, CSV and figures safely.

:func:`run` is the ``divergences gradients`` command. It never loses a
user's file: it refuses an output folder that already holds files unless told
to overwrite, checks that it can write there before computing anything, writes
into a temporary folder beside the output and moves the results into place
only when all of them are written, so an interrupted run leaves the old
results as they were. The move itself never replaces a file that another run
wrote meanwhile (unless told to overwrite): it refuses, and says where this
run's results are.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import shutil
import signal
import statistics
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from divergences.experiments.gradients import (
    DEFAULT_THETAS,
    DYNAMICS_NETWORKS,
    METHODS,
    NETWORKS,
    PICTURE_NETWORKS,
    TIMING_NETWORKS,
    batched_timing,
    critic_picture,
    gradient_sweep,
    summarise,
    training_dynamics,
)
from divergences.experiments.provenance import machine
from divergences.neural import TrainingOptions

__all__ = [
    "FILES",
    "GENERATOR_FILES",
    "generator_summary",
    "generator_table",
    "run",
    "run_generators",
    "summary_table",
    "write_into",
]

#: What :func:`run` writes, by key.
FILES = {
    "json": "gradients.json",
    "csv": "gradients.csv",
    "gradients": "gradients.png",
    "dynamics": "dynamics.png",
    "picture": "critic_2d.png",
}


def _settings(quick: bool, seeds: int, device: str) -> dict[str, dict[str, Any]]:
    """Each phase's keyword arguments; the networks' settings as TrainingOptions."""
    networks = NETWORKS.replace(device=device)
    if quick:
        return {
            "sweep": {
                "thetas": (-1.0, -0.05, 0.0, 0.5, 2.0),
                "seeds": 1,
                "samples": 400,
                "networks": networks.replace(steps=200),
            },
            "dynamics": {
                "theta0s": (2.0,),
                "iterations": 10,
                "learning_rate": 0.2,
                "networks": networks.replace(steps=20),
            },
            "picture": {
                "samples": 200,
                "networks": PICTURE_NETWORKS.replace(steps=200, device=device),
            },
            "timing": {"count": 4, "rounds": 1, "networks": networks.replace(steps=50)},
        }
    return {
        "sweep": {"thetas": DEFAULT_THETAS, "seeds": seeds, "networks": networks},
        "dynamics": {"networks": DYNAMICS_NETWORKS.replace(device=device)},
        "picture": {"networks": PICTURE_NETWORKS.replace(device=device)},
        "timing": {"networks": TIMING_NETWORKS.replace(device=device)},
    }


def run(
    output: str | Path,
    *,
    quick: bool = False,
    seeds: int = 3,
    device: str = "auto",
    progress: bool = True,
    overwrite: bool = False,
    stop: Callable[[], bool] | None = None,
) -> dict[str, Path]:
    """Run the sweep, the dynamics, the picture and the stack timing into ``output``.

    Writes the files of :data:`FILES`: ``gradients.json`` (the machine,
    every setting, rows, summaries and timings), ``gradients.csv`` (the
    sweep's rows) and three figures. ``quick`` runs a small version (five
    theta, one seed, fewer steps). ``stop``, if given, is asked once more
    before the results replace anything: a true answer (an interruption the
    caller recorded) leaves the output as it was and raises
    ``KeyboardInterrupt``. Returns the paths written.

    Raises
    ------
    FileExistsError
        If ``output`` is a file, a symbolic link to anything but a folder (a
        dangling one included), or a folder that holds files and ``overwrite``
        is False: checked before anything is computed. Also, without
        ``overwrite``, if files appeared in ``output`` during the run (another
        run into the same folder): nothing is replaced, and the message names
        the folder beside it that holds this run's results.
    PermissionError
        If ``output`` (or the folder it would be made in) is not writable;
        checked before anything is computed.
    """
    return write_into(
        output,
        lambda folder: _write_all(folder, quick, seeds, device, progress),
        overwrite=overwrite,
        stop=stop,
    )


def write_into(
    output: str | Path,
    write: Callable[[Path], dict[str, Path]],
    *,
    overwrite: bool = False,
    stop: Callable[[], bool] | None = None,
) -> dict[str, Path]:
    """Let ``write`` fill a staging folder beside ``output``, then move its files there.

    The safety of every experiment's run: a folder that already holds files is
    refused unless ``overwrite``, and so is a symbolic link to anything but a
    folder; writability is checked before ``write`` starts; nothing replaces a
    file until every file is written (and ``stop``, if given, answered no).
    Without ``overwrite`` the final move replaces nothing: if files appeared in
    ``output`` while ``write`` ran (another run into the same folder), it
    raises ``FileExistsError`` and leaves this run's files in the staging
    folder, which the message names. Otherwise the staging folder never stays
    behind. An interrupt during the move (a few renames) is answered once the
    files are in place, so that ``output`` never holds half of them.
    Returns the paths in ``output``.
    """
    output = Path(output)
    staging = _staging_folder(output, overwrite)
    keep = False
    try:
        paths = write(staging)
        with _signals_deferred():
            if stop is not None and stop():
                raise KeyboardInterrupt
            try:
                return _move_into_place(staging, output, paths, overwrite)
            except _OutputTaken:
                keep = True  # the results exist nowhere else
                raise
    finally:
        if not keep:
            shutil.rmtree(staging, ignore_errors=True)


class _OutputTaken(FileExistsError):
    """Files appeared in the output during the run; this run's results stay in staging."""

    def __init__(self, output: Path, staging: Path) -> None:
        super().__init__(
            f"{output} received files from elsewhere (another run?) while this run worked; "
            f"nothing was replaced, and this run's results are in {staging}: move them "
            "yourself, or run again allowing the replacement (--overwrite on the command "
            "line, overwrite=True in Python)"
        )


def _staging_folder(output: Path, overwrite: bool) -> Path:
    """A fresh folder beside ``output`` to write into; refuses what would lose files."""
    if output.is_symlink() and not output.is_dir():
        # refused here, before the run: the final rename onto the link would fail
        # after all the work (a dangling link), or replace a file (a link to one)
        what = "is not a folder" if output.exists() else "does not exist"
        raise FileExistsError(
            f"{output} is a symbolic link to {os.readlink(output)}, which {what}; "
            "choose another --output, or remove the link"
        )
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"{output} exists and is not a folder; choose another --output")
    if output.is_dir():
        if any(output.iterdir()) and not overwrite:
            raise FileExistsError(
                f"{output} already holds files; choose an empty or new folder, or allow "
                "replacing the results in it (--overwrite on the command line, overwrite=True "
                "in Python)"
            )
        if not os.access(output, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot write to {output}")
    parent = output.resolve().parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot make {output}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot write to {parent}, where {output.name} would be made")
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}-", dir=parent))
    mask = os.umask(0)
    os.umask(mask)
    staging.chmod(0o777 & ~mask)  # mkdtemp's 0700 would become the output's mode
    return staging


def _move_into_place(
    staging: Path, output: Path, paths: dict[str, Path], overwrite: bool
) -> dict[str, Path]:
    """Move ``paths`` from ``staging`` into ``output``, checked again: ``output`` was
    checked when the run began, and another run may have written there since."""
    placed = {key: output / path.name for key, path in paths.items()}
    if not os.path.lexists(output):
        # A new folder: the staging folder becomes it in one rename. rename() replaces
        # an empty folder that appeared meanwhile (nothing is lost) and fails on one
        # that holds files, or on a file or a link: then the checks below decide.
        with contextlib.suppress(OSError):
            os.rename(staging, output)
            return placed
    if overwrite and output.is_dir():
        for path in paths.values():
            os.replace(path, output / path.name)
        return placed
    if not output.is_dir() or any(output.iterdir()):
        raise _OutputTaken(output, staging)
    # Each name is claimed with O_EXCL, which fails if the name exists, decided
    # atomically; only then is the result renamed onto this run's own empty file.
    # Checking and renaming instead would replace a file written in between.
    claimed: list[Path] = []
    try:
        for path in paths.values():
            target = output / path.name
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            claimed.append(target)
    except FileExistsError:
        for target in claimed:
            target.unlink(missing_ok=True)
        raise _OutputTaken(output, staging) from None
    for path in paths.values():
        os.replace(path, output / path.name)
    return placed


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver them.

    For the short steps that must not stop halfway: the final move of the
    results, and the stopping of the workers (a second Ctrl-C there would leave
    workers running, and the interpreter's exit would wait for them). The
    handlers run in the main thread only; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous: dict[signal.Signals, Any] = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        handler = signal.getsignal(signum)
        if handler is not None and handler is not signal.SIG_IGN:  # None: set outside Python
            previous[signum] = signal.signal(signum, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in previous:  # SIGTERM first: it decides the exit status
            if signum in caught:
                signal.raise_signal(signum)


def _write_all(
    folder: Path, quick: bool, seeds: int, device: str, progress: bool
) -> dict[str, Path]:
    from divergences.experiments.plots import plot_dynamics, plot_picture, plot_sweep

    start = time.perf_counter()
    settings = _settings(quick, seeds, device)
    sweep = gradient_sweep(progress=progress, **settings["sweep"])
    dynamics = training_dynamics(progress=progress, **settings["dynamics"])
    picture = critic_picture(progress=progress, **settings["picture"])
    timing = batched_timing(progress=progress, **settings["timing"])
    paths = {key: folder / name for key, name in FILES.items()}
    payload = {
        "machine": machine(),
        "quick": quick,
        "seconds": time.perf_counter() - start,
        "settings": _json_settings(settings),
        "networks": {
            "sweep": sweep.networks,
            "picture": picture.networks,
            "timing": timing.networks,
        },
        "methods": METHODS,
        "summary": summarise(sweep.rows),
        "rows": [dataclasses.asdict(row) for row in sweep.rows],
        "dynamics": [dataclasses.asdict(t) for t in dynamics],
        "picture": {
            "w_estimate": picture.w_estimate,
            "js_estimate": picture.js_estimate,
            "median_step_sizes": picture.step_sizes,
        },
        "batched_timing": {
            key: value for key, value in dataclasses.asdict(timing).items() if key != "networks"
        },
    }
    paths["json"].write_text(json.dumps(_json_safe(payload), indent=1) + "\n")
    with paths["csv"].open("w", newline="") as handle:
        fields = [f.name for f in dataclasses.fields(sweep.rows[0])]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(dataclasses.asdict(row) for row in sweep.rows)
    plot_sweep(sweep.rows, paths["gradients"])
    plot_dynamics(dynamics, paths["dynamics"])
    plot_picture(picture, paths["picture"])
    return paths


def _json_settings(settings: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        phase: {
            key: value.as_dict() if isinstance(value, TrainingOptions) else value
            for key, value in arguments.items()
        }
        for phase, arguments in settings.items()
    }


def summary_table(
    path: str | Path, thetas: Sequence[float] = (-1.0, -0.05, 0.05, 0.5, 2.0)
) -> str:
    """The derivative of each method at a few theta, from a ``gradients.json``, as text."""
    from divergences.experiments.gradients import METHODS

    payload = json.loads(Path(path).read_text())
    summary = payload["summary"]
    present = [t for t in thetas if t in summary["w_exact"]["theta"]]
    # the labels without their parenthesised details: the table stays under 100 columns
    labels = {method: METHODS.get(method, method).split(" (")[0] for method in summary}
    width = max(map(len, labels.values())) + 2
    lines = [
        "d value / d theta, mean over seeds, at the offsets theta of "
        "P = (0, U[0,1]) against Q_theta = (theta, U[0,1])",
        f"{'method':{width}s}" + "".join(f"{f'theta={t:g}':>13s}" for t in present),
    ]
    undefined = False
    for method, entry in summary.items():
        cells = []
        for theta in present:
            value = entry["derivative"][entry["theta"].index(theta)]
            if isinstance(value, str) or not math.isfinite(value):
                undefined = True
                cells.append(f"{'undefined':>13s}")
            else:
                cells.append(f"{value:13.3f}")
        lines.append(f"{labels[method]:{width}s}" + "".join(cells))
    if undefined:
        lines.append("undefined: the value is +inf there (KL between disjoint supports)")
    timing = payload["batched_timing"]
    lines.append(
        f"{timing['count']} critics trained as one stack: {timing['ratio']:.2f}x the time of "
        "one (the training, without the certified side)"
    )
    return "\n".join(lines)


def _json_safe(value: Any) -> Any:
    """Non-finite floats as the strings "inf", "-inf", "nan" (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


#: What :func:`run_generators` writes, by key.
GENERATOR_FILES = {
    "json": "generators.json",
    "csv": "generators.csv",
    "samples": "generator_samples.png",
    "curves": "generator_w1.png",
}


def _generator_settings(quick: bool, seeds: int) -> dict[str, Any]:
    if quick:
        return {
            "targets": ("ring",),
            "seeds": 1,
            "steps": 300,
            "every": 100,
            "batch_size": 256,
            "schedule": "linear",
            "evaluation_size": 1000,
            "sweep": None,  # the default learning rate, no sweep
        }
    return {
        "targets": ("ring", "grid", "roll"),
        "seeds": seeds,
        "steps": 3000,
        "every": 500,
        "batch_size": 384,
        "schedule": "linear",
        "evaluation_size": 2000,
        # tolerance: the largest rate within 3% of the lowest W1 wins (see _sweep_choice)
        "sweep": {
            "rates": (5e-4, 1e-3, 2e-3),
            "target": "grid",
            "steps": 800,
            "tolerance": 0.03,
        },
    }


def run_generators(
    output: str | Path,
    *,
    quick: bool = False,
    seeds: int = 3,
    device: str = "cpu",
    workers: int = 1,
    progress: bool = True,
    overwrite: bool = False,
    stop: Callable[[], bool] | None = None,
) -> dict[str, Path]:
    """Train the generator with every loss on every target into ``output``.

    Each loss gets the generator's learning rate from the same small sweep
    (5e-4, 1e-3 and 2e-3, 800 steps on the grid; the largest rate within 3% of
    the lowest final W1), then
    trains from the same initialisation on each target and seed for 3000
    steps of 384 samples, the rate decayed linearly to 0, measured every 500
    (``quick``: the ring, one seed, 300 steps of 256, the rate 1e-3). Writes
    the files of :data:`GENERATOR_FILES`; the run is as safe as :func:`run`'s.
    ``workers`` > 1 trains that many runs at once in separate processes (at
    most one per CPU core: each run trains on one thread); an
    interrupt (``KeyboardInterrupt``) or a failed run cancels the runs not
    started and ends the workers at once. The workers ignore SIGINT: Ctrl-C
    reaches the whole process group, and this process alone answers it.
    """
    return write_into(
        output,
        lambda folder: _write_generators(folder, quick, seeds, device, workers, progress),
        overwrite=overwrite,
        stop=stop,
    )


def _write_generators(
    folder: Path, quick: bool, seeds: int, device: str, workers: int, progress: bool
) -> dict[str, Path]:
    from divergences.experiments.generators import LOSSES
    from divergences.experiments.plots import plot_generator_curves, plot_generator_samples

    settings = _generator_settings(quick, seeds)
    start = time.perf_counter()
    common = {
        "steps": settings["steps"],
        "every": settings["every"],
        "batch_size": settings["batch_size"],
        "schedule": settings["schedule"],
        "evaluation_size": settings["evaluation_size"],
        "device": device,
    }
    rates = dict.fromkeys(LOSSES, 0.001)
    sweep: list[dict[str, Any]] = []
    spec = settings["sweep"]
    targets = [*settings["targets"], *([spec["target"]] if spec is not None else [])]
    with _pool(workers) as pool:
        # the floors and the step-0 measures once, shared by every run
        shared = _shared_measures(
            pool, sorted(set(targets)), settings["seeds"], settings["evaluation_size"], device
        )
        if spec is not None:
            # only the final W1 matters here: no checkpoints between the first and last
            sweep_settings = {**common, "steps": spec["steps"], "every": spec["steps"]}
            jobs = [
                (loss, spec["target"], {**sweep_settings, "learning_rate": rate})
                for loss in LOSSES
                for rate in spec["rates"]
            ]
            results = _map(pool, jobs, shared, progress, "learning-rate sweep")
            for (loss, _, arguments), result in zip(jobs, results, strict=True):
                sweep.append(
                    {
                        "loss": loss,
                        "learning_rate": arguments["learning_rate"],
                        "w1": result.checkpoints[-1].w1,
                    }
                )
            for loss in LOSSES:
                rates[loss] = _sweep_choice(
                    [r for r in sweep if r["loss"] == loss], spec["tolerance"]
                )
        jobs = [
            (loss, target, {**common, "learning_rate": rates[loss], "seed": seed})
            for target in settings["targets"]
            for loss in LOSSES
            for seed in range(settings["seeds"])
        ]
        runs = _map(pool, jobs, shared, progress, "generator training")
    paths = {key: folder / name for key, name in GENERATOR_FILES.items()}
    payload = {
        "machine": machine(),
        "quick": quick,
        "seconds": time.perf_counter() - start,
        "settings": {**settings, "device": device, "learning_rates": rates},
        "losses": LOSSES,
        "sweep": sweep,
        "runs": [
            {
                **{k: v for k, v in dataclasses.asdict(run).items() if k != "samples"},
                "final": dataclasses.asdict(run.checkpoints[-1]),
            }
            for run in runs
        ],
    }
    paths["json"].write_text(json.dumps(_json_safe(payload), indent=1) + "\n")
    with paths["csv"].open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "loss",
                "target",
                "seed",
                "step",
                "seconds",
                "w1",
                "draws",
                "floor",
                "floor_sd",
                "modes",
                "near",
            ]
        )
        for run in runs:
            for point in run.checkpoints:
                writer.writerow(
                    [
                        run.loss,
                        run.target,
                        run.seed,
                        point.step,
                        f"{point.seconds:.3f}",
                        f"{point.w1:.6g}",
                        point.draws,
                        f"{run.floor:.6g}",
                        f"{run.floor_sd:.6g}",
                        point.modes,
                        f"{point.near:.4f}",
                    ]
                )
    plot_generator_samples(runs, paths["samples"])
    plot_generator_curves(runs, paths["curves"])
    return paths


def _sweep_choice(rows: list[dict[str, Any]], tolerance: float) -> float:
    """The largest learning rate whose final W1 is within ``tolerance`` of the lowest.

    The same rule for every loss. An 800-step run measures the rates to a few
    percent only, and a short run favours small rates: with the rate decayed
    to 0 over the run, a larger one that ties at 800 steps has the longer run
    to settle, so a tie goes to the larger rate (``docs/benchmarks/generators.md``
    has the sweeps).
    """
    best = min(row["w1"] for row in rows)
    return max(row["learning_rate"] for row in rows if row["w1"] <= best * (1 + tolerance))


#: The losses from the slowest run to the fastest (the mean training time per run in
#: docs/benchmarks/generators.md). The
#: workers take the slow runs first, so that they finish together; the order of the
#: results does not change.
_SLOWEST_FIRST = (
    "sinkhorn",
    "wasserstein",
    "exact",
    "gan_non_saturating",
    "gan_saturating",
    "energy",
)


#: Seconds a worker has to end after SIGTERM before it is killed.
_WORKER_GRACE = 1.0


@contextlib.contextmanager
def _pool(workers: int) -> Iterator[Any]:
    """``workers`` processes for the runs (``None``: run them in this process).

    If the block raises (Ctrl-C and SIGTERM included), the runs not started are
    cancelled and the workers stopped at once, not waited for: the executor's
    own exit would wait for every queued run.
    """
    # each run trains on one thread: processes beyond the cores would only compete (and
    # --workers 99999 forked thousands)
    workers = min(workers, os.cpu_count() or 1)
    if workers <= 1:
        yield None
        return
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_setup)
    try:
        yield pool
        pool.shutdown()
    except BaseException:
        with _signals_deferred():
            _stop_workers(pool)
        raise


def _worker_setup() -> None:
    """A worker's settings. Ctrl-C reaches the whole process group: the parent alone
    answers it and stops the workers, so they ignore SIGINT; SIGTERM ends them at once
    (not the parent's handler, which a fork copies). One torch thread, so that the
    workers share the cores."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    import torch

    torch.set_num_threads(1)


def _stop_workers(pool: Any) -> None:
    """Cancel ``pool``'s queued calls and end its workers: SIGTERM, then SIGKILL after
    :data:`_WORKER_GRACE` seconds (a worker may be starting and still hold the parent's
    handlers); every wait is bounded."""
    # The handles, taken before shutdown() drops them: the executor has no public way to
    # end its workers before Python 3.14 (whose terminate_workers reads the same dict).
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + _WORKER_GRACE
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join(_WORKER_GRACE)
    # its manager thread notices the dead workers and ends; the interpreter's exit joins it
    manager = getattr(pool, "_executor_manager_thread", None)
    if manager is not None:
        manager.join(_WORKER_GRACE)


def _shared_measures(
    pool: Any, targets: list[str], seeds: int, size: int, device: str
) -> tuple[dict[Any, tuple[float, float]], dict[bytes, float]]:
    """What every run of a target shares, solved once: the noise floor of each target
    (:func:`~divergences.experiments.generators.noise_floor`, 20 exact solves) and the
    step-0 measure of each (target, seed) (one solve, the same for every loss)."""
    from divergences.experiments.generators import _start_entry

    jobs: list[tuple[Callable[..., Any], tuple[Any, ...]]] = [
        *((_noise_floor_entry, (target, size)) for target in targets),
        *(
            (_start_entry, (target, seed, size, device))
            for target in targets
            for seed in range(seeds)
        ),
    ]
    entries = _call_all(pool, jobs)
    return dict(entries[: len(targets)]), dict(entries[len(targets) :])


def _call_all(
    pool: Any,
    calls: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]],
    done: Callable[[], Any] | None = None,
) -> list[Any]:
    """Each ``(function, arguments)`` of ``calls``, in ``pool``'s processes (all submitted
    at once, taken in that order) or here; the results in order, ``done()`` after each."""
    if pool is None:
        futures = None
    else:
        futures = [pool.submit(function, *arguments) for function, arguments in calls]
    results = []
    for k, (function, arguments) in enumerate(calls):
        results.append(function(*arguments) if futures is None else futures[k].result())
        if done is not None:
            done()
    return results


def _noise_floor_entry(target: str, size: int) -> tuple[Any, tuple[float, float]]:
    from divergences.experiments.generators import TARGETS, _floor_key, noise_floor

    pairs = 20  # noise_floor's default, the one train_generator uses
    return _floor_key(TARGETS[target], size, pairs), noise_floor(TARGETS[target], size, pairs)


def _map(
    pool: Any,
    jobs: list[tuple[str, str, dict[str, Any]]],
    shared: tuple[dict[Any, tuple[float, float]], dict[bytes, float]],
    progress: bool,
    description: str,
) -> list[Any]:
    """``train_generator`` on every job, in ``pool``'s processes or here; results in order."""
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), desc=description, unit="run")
    order = sorted(range(len(jobs)), key=lambda i: _SLOWEST_FIRST.index(jobs[i][0]))
    results: list[Any] = [None] * len(jobs)
    try:
        calls = [(_run_job, (jobs[i], shared)) for i in order]
        done = None if bar is None else bar.update
        for i, run in zip(order, _call_all(pool, calls, done), strict=True):
            results[i] = run
    finally:
        if bar is not None:
            bar.close()
    return results


def _run_job(
    job: tuple[str, str, dict[str, Any]],
    shared: tuple[dict[Any, tuple[float, float]], dict[bytes, float]],
) -> Any:
    """One run, with the floors and step-0 measures already solved (handed over to a
    worker, not redone: see :func:`_shared_measures`)."""
    from divergences.experiments import generators

    floors, starts = shared
    generators._FLOORS.update(floors)
    generators._STARTS.update(starts)
    loss, target, arguments = job
    return generators.train_generator(loss, target, **arguments)


def generator_summary(path: str | Path) -> list[dict[str, Any]]:
    """Per loss and target, over the seeds of a ``generators.json``: the final W1 over
    the noise floor (median and worst), the modes covered (fewest and most), the share
    of samples near the target and the training seconds (means)."""
    payload = json.loads(Path(path).read_text())
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in payload["runs"]:
        groups.setdefault((run["loss"], run["target"]), []).append(run)
    summary = []
    for (loss, target), runs in groups.items():
        ratios = [run["final"]["w1"] / run["floor"] for run in runs]
        modes = [run["final"]["modes"] for run in runs]
        summary.append(
            {
                "loss": loss,
                "target": target,
                "seeds": len(runs),
                "w1_over_floor_median": statistics.median(ratios),
                "w1_over_floor_worst": max(ratios),
                "modes_fewest": min(modes),
                "modes_most": max(modes),
                "near": statistics.fmean(run["final"]["near"] for run in runs),
                "seconds": statistics.fmean(run["seconds"] for run in runs),
                "learning_rate": runs[0]["learning_rate"],
            }
        )
    return summary


def generator_table(path: str | Path, *, markdown: bool = False) -> str:
    """:func:`generator_summary` as a text table, or a Markdown one."""
    from divergences.experiments.generators import TARGETS

    header = [
        "loss",
        "target",
        "W1 / floor (median, worst)",
        "modes covered",
        "near a mode",
        "seconds",
        "learning rate",
    ]
    lines = []
    for row in generator_summary(path):
        count = len(TARGETS[row["target"]].modes)
        if count:
            low, high = row["modes_fewest"], row["modes_most"]
            modes = f"{low}/{count}" if low == high else f"{low}-{high}/{count}"
        else:
            modes = "-"
        lines.append(
            [
                row["loss"],
                row["target"],
                f"{row['w1_over_floor_median']:.2f}, {row['w1_over_floor_worst']:.2f}",
                modes,
                f"{row['near']:.2f}",
                f"{row['seconds']:.0f}",
                f"{row['learning_rate']:g}",
            ]
        )
    if markdown:
        rule = "|" + "|".join("---" for _ in header) + "|"
        return "\n".join(
            ["| " + " | ".join(header) + " |", rule] + ["| " + " | ".join(r) + " |" for r in lines]
        )
    widths = [max(len(header[i]), *(len(r[i]) for r in lines)) for i in range(len(header))]
    table = [
        "  ".join(cell.ljust(width) for cell, width in zip(r, widths, strict=True)).rstrip()
        for r in [header, *lines]
    ]
    legend = [textwrap.fill(line, 96, subsequent_indent="    ") for line in _GENERATOR_LEGEND]
    return "\n".join([*table, "", *legend])


#: What the columns of :func:`generator_table` mean, printed under it.
_GENERATOR_LEGEND = (
    "W1 / floor: the exact W1 between the generator's samples and the target's, over the "
    "W1 between two samples of the target (1 is as good as sampling gets), over the seeds",
    "modes covered: modes with at least a quarter of a fair share (n / modes) of the "
    "samples within 3 standard deviations (fewest-most over the seeds; - for the Swiss "
    "roll, which has none)",
    "near a mode: the share of samples within 3 standard deviations of a mode (of the roll, "
    "for the Swiss roll; mean over the seeds)",
    "seconds: training time of a run (mean); learning rate: the generator's, from the sweep",
)
