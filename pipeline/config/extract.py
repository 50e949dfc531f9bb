"""The `extract` section: which streams `extract` computes, on what, and with which engine."""

from __future__ import annotations

from dataclasses import dataclass

from model.setting_checks import check_choice, check_int, check_names, check_number, require
from model.streams import STREAM_NAMES

EXTRACT_ENGINES = ("local", "ray")
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mkv", ".webm", ".avi", ".mov", ".mpg", ".mpeg", ".wmv", ".flv")


@dataclass(frozen=True)
class ExtractConfig:
    streams: tuple[str, ...] = ("audio", "visual", "face")  # which streams `extract` computes
    device: str = "auto"  # auto | cpu | cuda (| cuda:N)
    video_extensions: tuple[str, ...] = VIDEO_EXTENSIONS  # matched case-insensitively
    # local: this process, one video at a time | ray: a Ray cluster (pipeline/extract/ray_engine.py)
    engine: str = "local"
    workers: int = 1  # local engine: worker processes decoding videos at once (0: one per core; 1: one video at a time)
    # empty: start Ray on this machine; else a running cluster ("auto", "HOST:6379", "ray://HOST:10001")
    ray_address: str = ""
    # CPUs of the Ray instance started here (0: the cores this process may use); unused with an address
    ray_num_cpus: int = 0
    # actors running the model streams (visual, face); 0: one per GPU, or one per 2 CPUs without GPUs
    ray_model_actors: int = 0
    ray_cpus_per_model_actor: float = 1.0  # CPU cores each model actor reserves (it decodes its own frames)
    ray_max_retries: int = 2  # times a video is retried after the worker holding it dies; then it is reported failed

    def __post_init__(self) -> None:
        check_names("extract.streams", self.streams, STREAM_NAMES, what="stream")
        check_choice("extract.device", "cuda" if self.device.startswith("cuda:") else self.device,
                     ("auto", "cpu", "cuda"), note="or cuda:N")
        bad = [e for e in self.video_extensions if not e.startswith(".")]
        require(not bad, f"extract.video_extensions must start with a dot, got {bad[0] if bad else ''!r}")
        check_choice("extract.engine", self.engine, EXTRACT_ENGINES)
        check_int("extract.workers", self.workers, 0, note="0: one per core, 1: one video at a time")
        check_int("extract.ray_num_cpus", self.ray_num_cpus, 0)
        check_int("extract.ray_model_actors", self.ray_model_actors, 0)
        check_number("extract.ray_cpus_per_model_actor", self.ray_cpus_per_model_actor, 0, low_open=True)
        check_int("extract.ray_max_retries", self.ray_max_retries, 0, 100)
