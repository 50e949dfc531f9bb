"""`bench startup`: how long the everyday commands take when there is nothing to compute.

Setup (once, under WORKDIR/startup/): four short demo videos with annotations, their
features in a cache (every stream; random weights where no checkpoint is found), a tiny
model trained on them, and one more video localized once into its own cache.

Measured, each command in a new process as a user runs it (interpreter start, imports
and the work), the median of `runs` runs: `fsenet --help`, a no-op `extract` rerun (every
video up to date), and a cached `localize` (features cached: the model, post-processing
and every output file); the no-op extract also without the face stream (before the face
stream's identity was known without its network, its extractor was built to learn it; now no stream
builds a network when nothing is extracted). Wall time and CPU time (user + system, which a busy machine
inflates less than wall time), and the heavy libraries each command imported, with their
import time (`python -X importtime`, one more run).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from pipeline.bench.doc import markdown_table, section_stamp, update_section
from pipeline.synthetic.demo_videos import write_demo_annotations, write_demo_videos

ROOT = Path(__file__).resolve().parents[2]
HEAVY_LIBRARIES = ("torch", "torchvision", "pytorchvideo", "av", "ffmpeg", "librosa", "cv2", "matplotlib", "deepface",
                   "ray", "tensorboard", "scipy", "PIL")
TINY_TRAINING = ("--epochs", "2", "--set", "model.d_model=32", "--set", "model.num_heads=2", "--set",
                 "train.batch_size=2", "--set", "train.validate_every_epochs=2", "--device", "cpu")


def _fsenet(*args: str, importtime: bool = False) -> subprocess.CompletedProcess:
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, str(ROOT / "cli.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ))


def _checked(*args: str) -> None:
    result = _fsenet(*args)
    if result.returncode != 0:
        raise RuntimeError(f"bench startup: fsenet {' '.join(args[:1])} failed: {result.stderr.strip()[-500:]}")


def prepare(folder: Path) -> dict[str, list[str]]:
    """The work folder (made once, reused) and the commands to time, by name."""
    folder.mkdir(parents=True, exist_ok=True)
    videos, new_videos = folder / "videos", folder / "new videos"
    cache, run_dir, out = folder / "cache", folder / "run", folder / "localized"
    if not (run_dir / "best.pt").is_file():
        written = write_demo_videos(videos, 4, duration_seconds=6.0, test_videos=1, seed=7)
        write_demo_annotations(folder / "annotations", written)
        write_demo_videos(new_videos, 1, duration_seconds=6.0, test_videos=0, seed=8)
        _checked("extract", str(videos), "--cache", str(cache), "--random-weights", "--device", "cpu", "-q")
        _checked("train", "--features", str(cache), "--annotations", str(folder / "annotations"), "--out",
                 str(run_dir), *TINY_TRAINING, "-q")
    localize = ["localize", str(new_videos), "--model", str(run_dir / "best.pt"), "--out", str(out), "--cache",
                str(folder / "localize cache"), "--random-weights", "--device", "cpu", "-q"]
    _checked(*localize)  # fills its cache: the timed runs find every feature there
    return {
        "fsenet --help": ["--help"],
        "extract, nothing to do": ["extract", str(videos), "--cache", str(cache), "--random-weights", "--device",
                                   "cpu", "-q"],
        "extract --streams audio,visual, nothing to do": ["extract", str(videos), "--cache", str(cache), "--streams",
                                                          "audio,visual", "--random-weights", "--device", "cpu", "-q"],
        "localize, features cached": localize,
    }


def _timed(args: list[str]) -> tuple[float, float]:
    """(wall s, CPU s) of one run in a new process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = _fsenet(*args)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise RuntimeError(f"bench startup: fsenet {args[0]} failed: {result.stderr.strip()[-500:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def heavy_imports(args: list[str]) -> dict[str, float]:
    """Heavy library -> seconds its import took (cumulative, as -X importtime reports it)."""
    found = {}
    for line in _fsenet(*args, importtime=True).stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line.split("|")
        name = parts[-1].strip()
        if name in HEAVY_LIBRARIES and name not in found:
            found[name] = int(parts[1].strip()) / 1e6
    return found


def run_startup_bench(workdir: Path, doc: Path, runs: int, command: str) -> None:
    commands = prepare(Path(workdir) / "startup")
    rows = []
    for name, args in commands.items():
        times = [_timed(args) for _ in range(runs)]
        wall, cpu = statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)
        imports = heavy_imports(args)
        listed = ", ".join(f"{lib} {seconds:.2f}" for lib, seconds in sorted(imports.items(), key=lambda i: -i[1]))
        rows.append([name, f"{wall:.2f}", f"{cpu:.2f}", listed or "none"])
        print(f"{name}: {wall:.2f} s wall, {cpu:.2f} s CPU; heavy imports: {listed or 'none'}", flush=True)
    load = os.getloadavg()
    body = (
        section_stamp(command)
        + f"Load average while measuring: {load[0]:.1f} (1 min), {load[1]:.1f} (5 min) on {os.cpu_count()} CPUs; "
        f"median of {runs} runs.\n\n"
        + markdown_table(["command", "wall s", "CPU s", "heavy imports (s, cumulative)"], rows)
    )
    update_section(doc, "startup", "Startup: everyday commands with nothing to compute", body)
