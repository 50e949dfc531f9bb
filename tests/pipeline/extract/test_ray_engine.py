"""`extract --engine ray` as a user runs it: the same cache as the local engine, a worker
SIGKILLed mid-way costs only a retry of its video, a video whose worker always dies and
broken files are reported failed while the others complete, and `--ray-address` joins a
cluster started with `ray start`.

Workers are found among the descendants of the process under test by their process
titles (`ray::fsenet <streams>: <video id>`, the names the engine gives its tasks and
actor calls), so no other Ray on the machine is touched. Ray's token authentication gets
a test token through the environment, so nothing is written to ~/.ray.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cache.store import FeatureCache
from extractors.audio import AudioExtractor
from pipeline.config import load_config
from pipeline.extract.discovery import VideoFile
from pipeline.extract.ray_engine import RayEngineError, identity_difference, plan_model_actors
from pipeline.extract.video import extract_video
from pipeline.synthetic.videos import write_test_pattern_video
from tests.conftest import ROOT, cli

SMALL_VISUAL = ["--set", "visual.short_side=64", "--set", "visual.crop_size=64", "--set", "visual.layer=res5"]
ARGS = ["--streams", "audio,visual", "--random-weights", "--no-progress", *SMALL_VISUAL]
VIDEOS = {  # relative path -> (seconds, tone Hz)
    "clip one.mp4": (3.0, 300.0),
    "clip two.mkv": (2.5, 500.0),
    "nested/clip three.mp4": (3.0, 700.0),
    "nested/mute.mp4": (2.0, None),
}


@pytest.fixture(scope="module")
def ray_environment(tmp_path_factory):
    """The conftest's model homes, plus a Ray token for this module (set for the fixtures
    of this module scope too, which run before the function-scoped autouse fixture)."""
    homes = tmp_path_factory.getbasetemp() / "homes"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(homes / "torch"))
        patch.setenv("DEEPFACE_HOME", str(homes / "deepface"))
        patch.setenv("FSENET_OFFLINE", "1")
        patch.setenv("RAY_AUTH_MODE", "token")
        patch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
        yield  # the function-scoped autouse fixture sets the same homes and restores these after each test


@pytest.fixture(scope="module")
def videos(tmp_path_factory, ray_environment) -> Path:
    folder = tmp_path_factory.mktemp("ray") / "videos"
    for name, (seconds, tone_hz) in VIDEOS.items():
        write_test_pattern_video(folder / name, seconds, fps=25.0, size=(160, 120), tone_hz=tone_hz)
    return folder


@pytest.fixture(scope="module")
def reference(videos, ray_environment) -> Path:
    """The local engine's cache of `videos`."""
    cache = videos.parent / "local cache"
    result = cli("extract", str(videos), "--cache", str(cache), *ARGS)
    assert result.returncode == 0, result.stderr
    return cache


# -- helpers ------------------------------------------------------------------------------
def process_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, command line as `ps` shows it) of every process readable now."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            command = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        table[int(entry)] = (int(stat.rsplit(")", 1)[1].split()[1]),
                             command.replace(b"\0", b" ").decode(errors="replace").strip())
    return table


def descendants(root_pid: int) -> dict[int, str]:
    """pid -> command line of every process below `root_pid`."""
    table = process_table()
    found: dict[int, str] = {}
    frontier = [root_pid]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, command) in table.items():
            if ppid == parent and pid not in found:
                found[pid] = command
                frontier.append(pid)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def run_while_watching(args: list[str], watch: Callable[[dict[int, str]], None], root_pid: int | None = None):
    """Run `python cli.py ARGS`, calling watch(descendants) every 20 ms until it exits;
    returns (returncode, stdout, stderr, every pid seen below the watched root)."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "cli.py"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    seen: set[int] = set()
    deadline = time.monotonic() + 480  # a hang guard: on 2 busy cores a Ray run took over 300 s
    while process.poll() is None and time.monotonic() < deadline:
        below = descendants(root_pid or process.pid)
        seen.update(below)
        watch(below)
        time.sleep(0.02)
    stdout, stderr = process.communicate(timeout=60)
    return process.returncode, stdout, stderr, seen


def kill_workers_on(title_prefix: str, limit: int) -> tuple[Callable[[dict[int, str]], None], list[str]]:
    """A watcher that SIGKILLs (at most `limit` times) a Ray worker whose title starts with
    `title_prefix`; returns it and the list of the titles it killed."""
    killed: list[str] = []

    def watch(below: dict[int, str]) -> None:
        for pid, command in below.items():
            if len(killed) < limit and command.startswith(title_prefix):
                os.kill(pid, signal.SIGKILL)
                killed.append(command)

    return watch, killed


def assert_same_cache(expected: Path, actual: Path, video_ids=None) -> None:
    """Same arrays (bitwise) and metadata (but for the write times and the source paths,
    which are the files' own) for every video of `expected` (or of `video_ids`)."""
    ids = video_ids or FeatureCache(expected).video_ids()
    assert set(ids) <= set(FeatureCache(actual).video_ids())
    for video_id in ids:
        want, got = expected / "videos" / video_id, actual / "videos" / video_id
        assert sorted(p.name for p in want.iterdir()) == sorted(p.name for p in got.iterdir()), video_id
        for array in want.glob("*.npy"):
            np.testing.assert_array_equal(np.load(array), np.load(got / array.name), err_msg=f"{video_id}/{array.name}")
        metas = [json.loads((folder / "meta.json").read_text()) for folder in (want, got)]
        for meta in metas:
            for record in meta["streams"].values():
                record.pop("written_at")
            if video_ids is not None:
                meta["source"].pop("path")
                meta["source"].pop("mtime")
        assert metas[0] == metas[1], video_id


def report(cache: Path) -> dict:
    """extract_report.json: every video's latest outcome over the runs on this cache."""
    return json.loads((cache / "extract_report.json").read_text())


def run_report(cache: Path) -> dict:
    """The report of the one `extract` run on this cache (CACHE/reports/extract-*.json)."""
    [path] = (cache / "reports").glob("extract-*.json")
    return json.loads(path.read_text())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(ray_environment):
    """A one-node cluster started with `ray start --head` (2 CPUs); yields (address, pid of `ray start`)."""
    temp_dir = Path(os.path.realpath("/tmp")) / f"ray-test-{secrets.token_hex(4)}"  # short: Ray's socket paths
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--num-cpus", "2", "--port", str(port),
         "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(temp_dir),
         "--ray-client-server-port", str(free_port()), "--dashboard-port", str(free_port()),
         "--dashboard-agent-listen-port", str(free_port())],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not any("raylet" in command for command in descendants(process.pid).values()):
            assert process.poll() is None and time.monotonic() < deadline, "ray start --head did not come up"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}", process.pid
    finally:
        process.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        process.wait(timeout=60)
        subprocess.run(["rm", "-rf", str(temp_dir)], check=False)


# -- tests --------------------------------------------------------------------------------
def test_ray_engine_writes_the_local_engines_cache_and_report(videos, reference, tmp_path):
    cache = tmp_path / "ray cache"
    code, stdout, stderr, seen = run_while_watching(
        ["extract", str(videos), "--cache", str(cache), *ARGS, "--engine", "ray"], lambda below: None
    )
    assert code == 0, stderr
    assert "4 video(s): 4 extracted, 0 already up to date, 0 failed" in stdout
    assert "ray: started Ray on this machine" in stderr and "Traceback" not in stderr
    assert_same_cache(reference, cache)
    local, ray_report = run_report(reference), run_report(cache)
    assert ray_report.keys() == local.keys() and ray_report["engine"] == "ray"
    assert ray_report["videos"] == local["videos"] and ray_report["counts"] == local["counts"]
    assert ray_report["device"] == local["device"] and ray_report["streams"] == local["streams"]
    # The Ray instance it started (raylet, GCS, workers) is gone with it.
    deadline = time.monotonic() + 10
    while [pid for pid in seen if alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert seen and not {pid: command for pid, command in process_table().items() if pid in seen and alive(pid)}


def test_sigkilled_worker_costs_only_a_retry_of_its_video(videos, reference, ray_head, tmp_path):
    address, head_pid = ray_head
    cache = tmp_path / "ray cache"
    watch, killed = kill_workers_on("ray::fsenet visual: ", limit=1)

    def kill_after_first_entry(below: dict[int, str]) -> None:
        if list(cache.glob("videos/**/meta.json")):
            watch(below)

    code, stdout, stderr, _ = run_while_watching(
        ["extract", str(videos), "--cache", str(cache), *ARGS, "--ray-address", address], kill_after_first_entry,
        root_pid=head_pid,
    )
    assert len(killed) == 1, "no model worker was busy after the first entry appeared"
    killed_id = killed[0].removeprefix("ray::fsenet visual: ")
    assert code == 0, stderr
    assert f"note: the Ray worker extracting {killed_id} died" in stderr
    outcomes = {v["video_id"]: v for v in report(cache)["videos"]}
    assert report(cache)["counts"]["failed"] == 0
    assert outcomes[killed_id]["retries"] == 1 and outcomes[killed_id]["status"] == "extracted"
    assert all(v["retries"] == 0 for video_id, v in outcomes.items() if video_id != killed_id)
    assert_same_cache(reference, cache)


def test_dying_and_broken_videos_fail_alone_on_a_cluster(videos, reference, ray_head, tmp_path):
    address, head_pid = ray_head
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "clip one.mp4").write_bytes((videos / "clip one.mp4").read_bytes())
    write_test_pattern_video(folder / "poison.mp4", 10.0, fps=25.0, size=(160, 120))
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.avi").write_text("not a video")
    cache = tmp_path / "cluster cache"
    watch, killed = kill_workers_on("ray::fsenet ", limit=10)

    def kill_poison(below: dict[int, str]) -> None:
        watch({pid: command for pid, command in below.items() if command.endswith(": poison")})

    code, stdout, stderr, _ = run_while_watching(
        ["extract", str(folder), "--cache", str(cache), *ARGS, "--ray-address", address,
         "--set", "extract.ray_max_retries=1"],
        kill_poison, root_pid=head_pid,
    )
    assert code == 1, stderr
    assert "ray: connected to the Ray cluster at" in stderr and "Traceback" not in stderr
    assert len(killed) >= 2, killed  # one more when a worker was caught just after it finished
    outcomes = {v["video_id"]: v for v in report(cache)["videos"]}
    assert outcomes["poison"]["status"] == "failed" and outcomes["poison"]["retries"] == 1
    assert "Ray worker died 2 time(s)" in outcomes["poison"]["reason"]
    # Broken files: not retried, the local engine's one-line reasons.
    config = load_config(None, ["extract.streams=audio,visual"])
    for name in ("empty.mp4", "notes.avi"):
        video_id = Path(name).stem
        local = extract_video(VideoFile(video_id, folder / name), FeatureCache(tmp_path / "scratch"), {}, config,
                              False, False)
        assert outcomes[video_id]["status"] == "failed" and outcomes[video_id]["retries"] == 0
        assert outcomes[video_id]["reason"] == local.reason
    assert outcomes["clip one"]["status"] == "extracted" and outcomes["clip one"]["retries"] == 0
    assert_same_cache(reference, cache, video_ids=["clip one"])


def test_engine_ray_without_the_ray_package_says_how_to_install_it(videos, tmp_path):
    cache = tmp_path / "cache"
    argv = ["extract", str(videos), "--cache", str(cache), *ARGS, "--engine", "ray"]
    program = f"import sys; sys.modules['ray'] = None; import cli; sys.exit(cli.main({argv!r}))"  # as if not installed
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()] and "pip install ray" in result.stderr
    assert not cache.exists()


def test_model_workers_are_planned_to_fit_the_cluster():
    settings = load_config(None, []).extract
    plan = plan_model_actors(settings, cluster_cpus=2, cluster_gpus=0, has_cpu_streams=True)
    assert (plan.count, plan.num_cpus, plan.num_gpus, plan.torch_threads) == (1, 1.0, 0, 1)
    assert plan_model_actors(settings, cluster_cpus=16, cluster_gpus=0, has_cpu_streams=True).count == 8
    assert plan_model_actors(settings, cluster_cpus=16, cluster_gpus=4, has_cpu_streams=True).num_gpus == 1
    assert plan_model_actors(settings, cluster_cpus=16, cluster_gpus=4, has_cpu_streams=True).count == 4
    cpu_only = load_config(None, ["extract.device=cpu"]).extract
    assert plan_model_actors(cpu_only, cluster_cpus=16, cluster_gpus=4, has_cpu_streams=False).num_gpus == 0
    too_many = load_config(None, ["extract.ray_model_actors=2"]).extract
    with pytest.raises(RayEngineError, match="cannot hold 2 model worker"):
        plan_model_actors(too_many, cluster_cpus=2, cluster_gpus=0, has_cpu_streams=True)
    with pytest.raises(RayEngineError, match="no GPU"):
        plan_model_actors(load_config(None, ["extract.device=cuda"]).extract, 8, 0, True)


def test_a_worker_whose_extractors_differ_from_the_drivers_is_named():
    config = load_config(None, [])
    worker = {"audio": AudioExtractor(config.audio, config.decode)}
    assert identity_difference({"audio": worker["audio"].identity()}, worker) == ""
    driver = load_config(None, ["audio.n_mfcc=20"])
    message = identity_difference({"audio": AudioExtractor(driver.audio, driver.decode).identity()}, worker)
    assert message.startswith("its audio extractor differs from this machine's")
