"""``divergences compare`` on two sample files larger than the memory it may use.

Writes two float32 ``.npy`` files of 2.1 GB each in d = 8 (2^26 rows of 32 bytes:
P ~ N(0, I), Q its translate by 1 along the first axis) to a temporary folder on
disk, a block of rows at a time so that this script never holds them either; runs
the real command on them in a subprocess (``python -m divergences compare P Q``,
then with ``--neural --steps 200``); samples the child's ``/proc/<pid>/status``
every 0.1 s; and deletes the files. Reported per run: the wall time, the table the
command printed, and the peak of the child's anonymous memory (``RssAnon``: what
it allocated) above its value at the first sample, which is the figure with a
target (under 500 MB). Pages of the two files that the kernel maps into the
child while it reads them show up in ``RssFile``; they are a cache the kernel
drops under pressure, so they are recorded but do not count.

Run: ``python benchmarks/large_files.py`` (about five minutes on 2 cores, 4.3 GB of free
disk; ``--quick``: two 200 MB files, which takes nearly as long, since every row of the table
but the NaN check works on a subsample of the same size; ``--no-neural`` halves either;
``--dir`` picks the folder).
Writes benchmarks/results/large_files.json (``large_files_quick.json`` with
``--quick``).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import write_json

DIMENSION = 8
TARGET_MB = 500
SAMPLE_SECONDS = 0.1


def write_samples(path: Path, rows: int, shift: float, seed: int) -> None:
    """A float32 (rows, DIMENSION) .npy file written a block at a time."""
    header = {"descr": "<f4", "fortran_order": False, "shape": (rows, DIMENSION)}
    rng = np.random.default_rng(seed)
    block = 1 << 20
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        for start in range(0, rows, block):
            x = rng.standard_normal((min(block, rows - start), DIMENSION), dtype=np.float32)
            x[:, 0] += shift
            handle.write(x.tobytes())


def memory_kb(pid: int) -> dict[str, int] | None:
    """RssAnon, RssFile and VmHWM of process ``pid`` in kB; None once it has exited."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("RssAnon", "RssFile", "VmHWM"):
            fields[key] = int(value.split()[0])
    return fields if len(fields) == 3 else None


# What the compare run imports before it reads a row (POT imports torch when it is
# installed); the child sleeps so that the sampler sees it after the imports.
IMPORTS = (
    "import divergences.cli, divergences.transport, divergences.knn, ot, scipy.spatial; "
    "import time; time.sleep(1)"
)


def run_compare(paths: list[Path], extra: list[str]) -> dict[str, Any]:
    """Run the command on the files, sampling its memory; its time, memory and output."""
    command = [sys.executable, "-m", "divergences", "compare", *map(str, paths), *extra]
    return {"command": ["divergences", "compare", "P.npy", "Q.npy", *extra], **sample(command)}


def sample(command: list[str]) -> dict[str, Any]:
    """Run ``command``, sampling its memory every SAMPLE_SECONDS; time, memory and output."""
    samples: list[tuple[float, dict[str, int]]] = []
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    output: dict[str, str] = {}

    def drain() -> None:  # a full pipe would block the child
        output["stdout"], output["stderr"] = child.communicate()

    reader = threading.Thread(target=drain)
    reader.start()
    while child.poll() is None:
        status = memory_kb(child.pid)
        if status is not None:
            samples.append((time.perf_counter() - start, status))
        time.sleep(SAMPLE_SECONDS)
    seconds = time.perf_counter() - start
    reader.join()
    anon = [status["RssAnon"] for _, status in samples]
    files = [status["RssFile"] for _, status in samples]
    peak_at = samples[int(np.argmax(anon))][0]
    timeline = [  # one sample a second is enough to see the phases
        {
            "t": round(t, 1),
            "anon_mb": status["RssAnon"] / 1024,
            "file_mb": status["RssFile"] / 1024,
        }
        for index, (t, status) in enumerate(samples)
        if index % round(1 / SAMPLE_SECONDS) == 0
    ]
    return {
        "returncode": child.returncode,
        "seconds": seconds,
        "samples": len(samples),
        "start_rss_anon_mb": anon[0] / 1024,
        "peak_rss_anon_mb": max(anon) / 1024,
        "peak_rss_anon_above_start_mb": (max(anon) - anon[0]) / 1024,
        "peak_at_seconds": peak_at,
        "peak_rss_file_mb": max(files) / 1024,
        "vm_hwm_mb": samples[-1][1]["VmHWM"] / 1024,
        "within_target": (max(anon) - anon[0]) / 1024 < TARGET_MB,
        "stdout": output["stdout"],
        "stderr": output["stderr"],
        "timeline": timeline,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two 200 MB files")
    parser.add_argument("--dir", default=None, help="where to write the files (default: TMPDIR)")
    parser.add_argument("--no-neural", action="store_true", help="skip the --neural run")
    args = parser.parse_args()
    rows = (200 * 10**6) // (4 * DIMENSION) if args.quick else 1 << 26  # 2^26 rows: 2.1 GB
    size = rows * 4 * DIMENSION
    folder = Path(tempfile.mkdtemp(prefix="divergences-large-", dir=args.dir))
    try:
        free = shutil.disk_usage(folder).free
        if free < 2.2 * size:
            sys.exit(f"{folder} has {free / 1e9:.1f} GB free; the files need {2 * size / 1e9:.1f}")
        paths = [folder / "p.npy", folder / "q.npy"]
        begin = time.perf_counter()
        write_samples(paths[0], rows, 0.0, seed=0)
        write_samples(paths[1], rows, 1.0, seed=1)
        written = time.perf_counter() - begin
        print(f"wrote 2 x {paths[0].stat().st_size / 1e9:.2f} GB in {written:.0f} s")
        imports = sample([sys.executable, "-c", IMPORTS])
        runs = [run_compare(paths, ["--device", "cpu"])]
        if not args.no_neural:
            runs.append(run_compare(paths, ["--neural", "--steps", "200", "--device", "cpu"]))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"the imports alone: peak RssAnon {imports['peak_rss_anon_mb']:.0f} MB "
        f"({imports['peak_rss_anon_above_start_mb']:.0f} MB above the start)"
    )
    for run in runs:
        print(f"\n$ {' '.join(run['command'])}   (exit status {run['returncode']})")
        print(run["stdout"] + run["stderr"])
        print(
            f"{run['seconds']:.0f} s; peak RssAnon {run['peak_rss_anon_mb']:.0f} MB, "
            f"{run['peak_rss_anon_above_start_mb']:.0f} MB above its start "
            f"(target < {TARGET_MB} MB); peak RssFile {run['peak_rss_file_mb']:.0f} MB"
        )
    path = write_json(
        "large_files_quick" if args.quick else "large_files",
        {
            "files": {
                "count": 2,
                "rows": rows,
                "d": DIMENSION,
                "dtype": "float32",
                "bytes_each": rows * 4 * DIMENSION,
                "p": "N(0, I)",
                "q": "N(0, I) + e_1",
            },
            "target_rss_anon_mb": TARGET_MB,
            "imports_only": {
                key: imports[key]
                for key in ("peak_rss_anon_mb", "peak_rss_anon_above_start_mb", "seconds")
            },
            "sample_seconds": SAMPLE_SECONDS,
            "runs": runs,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
