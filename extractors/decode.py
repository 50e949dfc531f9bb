"""Probing and streaming decode of any file ffmpeg can read.

Pictures and sound are decoded by an ffmpeg child process (arguments built with
ffmpeg-python, run without a shell) and read from its stdout in chunks, so memory does not
grow with the video's length. ffmpeg does the hard parts: rotation metadata (autorotate),
variable frame rate (the `fps` filter resamples onto the grid's frame rate, padding the
start from time 0), scaling, and resampling audio to mono at a fixed rate. PyAV reads
the container's header for the facts the cache records (duration, native fps, streams).
"""

from __future__ import annotations

import collections
import dataclasses
import math
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model.setting_checks import check_choice, check_int, check_number

if TYPE_CHECKING:  # imported where used: the config sections here load with no decoder
    import av
    import ffmpeg


class VideoReadError(Exception):
    """A video that cannot be used, with a one-line reason and what to do about it."""

    def __init__(self, path: Path | str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason


HARDWARE_DECODERS = ("none", "auto", "cuda")
_hardware_problems: dict[str, str] = {}  # ffmpeg binary -> why it cannot decode on CUDA ("" when it can)


@dataclass(frozen=True)
class DecodeConfig:
    ffmpeg_binary: str = ""  # path to ffmpeg; empty: `ffmpeg` on PATH, else imageio-ffmpeg's
    threads: int = 0  # ffmpeg decoder threads; 0 lets ffmpeg choose
    min_decoded_fraction: float = 0.9  # decoding less of the stated duration = truncated
    hardware: str = "none"  # none | cuda (ffmpeg -hwaccel cuda: NVDEC) | auto (cuda where ffmpeg can use it)

    def __post_init__(self) -> None:
        check_choice("decode.hardware", self.hardware, HARDWARE_DECODERS)
        check_int("decode.threads", self.threads, 0, note="0: ffmpeg chooses")
        check_number("decode.min_decoded_fraction", self.min_decoded_fraction, 0, 1, low_open=True)


def find_ffmpeg(configured: str = "") -> str:
    """The ffmpeg executable: the configured path, else the system's, else imageio-ffmpeg's."""
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise FileNotFoundError(
                f"decode.ffmpeg_binary={configured!r} is not an executable file; "
                "fix the path or leave it empty to use the system's ffmpeg"
            )
        return configured
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg
    except ImportError:
        raise FileNotFoundError(
            "no ffmpeg found: install it (apt install ffmpeg) or `pip install imageio-ffmpeg`"
        ) from None
    return imageio_ffmpeg.get_ffmpeg_exe()


def cuda_decode_problem(binary: str) -> str:
    """Why `binary` cannot decode on a CUDA device here ('' when it can): it opens one with
    -init_hw_device (ffmpeg has no CUDA, no driver, no GPU); asked once per binary."""
    if binary not in _hardware_problems:
        args = [binary, "-nostdin", "-hide_banner", "-loglevel", "error", "-init_hw_device", "cuda=probe",
                "-f", "lavfi", "-i", "nullsrc=s=16x16", "-frames:v", "1", "-f", "null", "-"]
        try:
            done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
            lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
            failure = lines[0] if lines else f"exit {done.returncode}"
            _hardware_problems[binary] = "" if done.returncode == 0 else failure
        except (OSError, subprocess.TimeoutExpired) as error:
            _hardware_problems[binary] = f"{type(error).__name__}: {error}"
    return _hardware_problems[binary]


def resolve_hardware_decode(config: DecodeConfig) -> tuple[DecodeConfig, str]:
    """The decode settings to use: decode.hardware auto or cuda become cuda where this
    machine's ffmpeg can decode on the GPU, else none; with a one-line note ('' when none
    is due) saying that decoding falls back to the CPU. The pictures are the same either
    way (H.264 and its kin decode bit-exactly; scaling stays on the CPU)."""
    if config.hardware == "none":
        return config, ""
    problem = cuda_decode_problem(find_ffmpeg(config.ffmpeg_binary))
    if not problem:
        return dataclasses.replace(config, hardware="cuda"), ""
    note = (f"decode.hardware={config.hardware}: ffmpeg cannot decode on a CUDA GPU here ({problem}); "
            "decoding on the CPU")
    return dataclasses.replace(config, hardware="none"), note


@dataclass(frozen=True)
class VideoProbe:
    """What the container's header says about one file. Durations in seconds."""

    path: str
    duration_seconds: float
    video_stream_index: int | None
    audio_stream_index: int | None
    video_duration_seconds: float | None
    audio_duration_seconds: float | None
    native_fps: float | None
    width: int | None  # coded size, before rotation
    height: int | None
    container: str

    @property
    def has_video(self) -> bool:
        return self.video_stream_index is not None

    @property
    def has_audio(self) -> bool:
        return self.audio_stream_index is not None

    def to_dict(self) -> dict:
        return {
            "duration_seconds": self.duration_seconds,
            "has_video": self.has_video,
            "has_audio": self.has_audio,
            "native_fps": self.native_fps,
            "width": self.width,
            "height": self.height,
            "container": self.container,
        }


def _stream_seconds(stream: av.stream.Stream) -> float | None:
    if stream.duration is None or stream.time_base is None:
        return None
    seconds = float(stream.duration * stream.time_base)
    return seconds if seconds > 0 else None


def _demuxed_end_seconds(container: av.container.InputContainer) -> float | None:
    """Last packet end time, read without decoding (for containers with no duration)."""
    end = None
    for packet in container.demux():
        if packet.pts is None or packet.time_base is None:
            continue
        packet_end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
        end = packet_end if end is None else max(end, packet_end)
    return end


def _open_container(name: str):
    """av.open, asking PyAV < 19 to ignore metadata it cannot decode (PyAV 19, which pip
    picks on Python 3.12 and later, no longer has that option)."""
    import av  # here: a command that decodes nothing loads no decoder

    try:
        return av.open(name, metadata_errors="ignore")
    except TypeError:
        return av.open(name)


def probe_video(path: Path | str) -> VideoProbe:
    """Read the header of `path`; raises VideoReadError with a one-line reason."""
    path = Path(path)
    if not path.exists():
        raise VideoReadError(path, "file not found (a broken link?); check the path")
    if not path.is_file():
        raise VideoReadError(path, "not a regular file; pass a video file")
    if not os.access(path, os.R_OK):
        raise VideoReadError(path, "permission denied; make the file readable")
    if path.stat().st_size == 0:
        raise VideoReadError(path, "empty file (0 bytes); copy or download it again")
    import av

    try:
        # "file:" as in decoding (_input): a relative name with a colon ("a:b.mp4", "http:x.mp4")
        # is a file, never read as a protocol
        container = _open_container("file:" + os.path.abspath(path))
    except av.error.FFmpegError as error:
        detail = (error.strerror or type(error).__name__).strip()
        raise VideoReadError(
            path,
            f"ffmpeg cannot read it ({detail}): not a video, or truncated or corrupt; "
            "check it plays, or re-encode it",
        ) from None
    with container:
        video = next(
            (
                s
                for s in container.streams.video
                if not (s.disposition & av.stream.Disposition.attached_pic)
            ),
            None,
        )
        audio = next(iter(container.streams.audio), None)
        if video is None and audio is None:
            raise VideoReadError(path, "contains no video or audio stream; pass a video file")
        video_seconds = _stream_seconds(video) if video is not None else None
        audio_seconds = _stream_seconds(audio) if audio is not None else None
        duration = container.duration / av.time_base if container.duration else None
        if not duration:
            known = [s for s in (video_seconds, audio_seconds) if s]
            duration = max(known) if known else _demuxed_end_seconds(container)
        if not duration or not math.isfinite(duration) or duration <= 0:
            raise VideoReadError(
                path, "its duration cannot be determined; re-mux it (ffmpeg -i IN -c copy OUT)"
            )
        rate = video.average_rate or video.base_rate if video is not None else None
        return VideoProbe(
            path=str(path),
            duration_seconds=float(duration),
            video_stream_index=video.index if video is not None else None,
            audio_stream_index=audio.index if audio is not None else None,
            video_duration_seconds=video_seconds,
            audio_duration_seconds=audio_seconds,
            native_fps=float(rate) if rate else None,
            width=video.codec_context.width if video is not None else None,
            height=video.codec_context.height if video is not None else None,
            container=container.format.name,
        )


class _FfmpegProcess:
    """An ffmpeg child writing to a pipe; stderr drained by a thread (last lines kept)."""

    def __init__(self, args: list[str]):
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=5)
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()

    def _drain_stderr(self) -> None:
        for line in self.process.stderr:
            text = line.decode("utf-8", "replace").strip()
            if text:
                self._stderr_tail.append(text)

    @property
    def stdout(self):
        return self.process.stdout

    def last_error(self) -> str:
        return self._stderr_tail[-1] if self._stderr_tail else "no message"

    def finish(self) -> int:
        """Wait for a normal exit; returns ffmpeg's exit status."""
        self.process.stdout.close()
        status = self.process.wait()
        self._stderr_thread.join(timeout=5)
        return status

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._stderr_thread.join(timeout=5)


# ffmpeg-python hashes its arguments as UTF-8 text, which a file name that is not UTF-8 (bytes
# carried as lone surrogates) cannot pass: the input is named by this stand-in there and put
# back in the command line (the NUL would stop the command, were it ever left in)
_INPUT_STAND_IN = "file:\x00input"


def _ffmpeg_command(binary: str, stream: ffmpeg.nodes.OutputStream, probe: VideoProbe) -> list[str]:
    """The command line of `stream` (built on _input), the input named as the file `probe` read."""
    source = "file:" + os.path.abspath(probe.path)  # subprocess passes its bytes as they are (os.fsencode)
    args = [source if arg == _INPUT_STAND_IN else arg for arg in stream.get_args()]
    return [binary, "-nostdin", "-hide_banner", "-loglevel", "error", *args]


def _input(probe: VideoProbe, config: DecodeConfig, pictures: bool = False) -> ffmpeg.nodes.FilterableStream:
    import ffmpeg

    # "file:" keeps names with a colon from being read as a protocol.
    options: dict = {"threads": config.threads} if config.threads else {}
    if pictures and config.hardware == "cuda":  # resolved (resolve_hardware_decode): NVDEC, frames back in memory
        options["hwaccel"] = "cuda"
    return ffmpeg.input(_INPUT_STAND_IN, **options)  # the file itself: _ffmpeg_command


def _check_decoded(probe: VideoProbe, decoded: float, stated: float | None, what: str, config: DecodeConfig) -> None:
    stated = stated or probe.duration_seconds
    shortfall = stated - decoded
    if decoded < config.min_decoded_fraction * stated and shortfall > 1.0:
        raise VideoReadError(
            probe.path,
            f"truncated or corrupt: decoded {decoded:.1f} s of {what} out of the {stated:.1f} s "
            "its header states; re-encode or download it again",
        )


def _read_ppm_frame(pipe) -> np.ndarray | None:
    """One binary PPM image (ffmpeg's image2pipe + ppm) as (H, W, 3) uint8, None at end."""
    magic = pipe.readline()
    if not magic:
        return None
    size = pipe.readline().split()
    pipe.readline()  # maximum value, always 255 for rgb24
    if magic.strip() != b"P6" or len(size) != 2:
        raise ValueError("unexpected data from ffmpeg (not a PPM frame)")
    width, height = int(size[0]), int(size[1])
    data = pipe.read(width * height * 3)
    if len(data) < width * height * 3:
        return None
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)


def iter_video_frames(
    probe: VideoProbe,
    config: DecodeConfig,
    frame_rate: float,
    num_frames: int,
    short_side: int | None = None,
    chunk_frames: int = 64,
) -> Iterator[np.ndarray]:
    """Frames resampled to `frame_rate`: chunks (N, H, W, 3) uint8 RGB, exactly `num_frames` in all.

    Frame k shows the video at k / frame_rate seconds. Missing frames at the end are the
    last decoded frame repeated; extra ones are dropped. `short_side` scales the picture
    so its shorter side has that many pixels (aspect kept). Raises VideoReadError when
    there is no video or much less decodes than the header states.
    """
    if not probe.has_video:
        raise VideoReadError(probe.path, "has no video stream (audio only); pass a video file")
    stream = _input(probe, config, pictures=True)[str(probe.video_stream_index)].filter(
        "fps", fps=frame_rate, start_time=0
    )
    if short_side:
        stream = stream.filter(
            "scale",
            w=f"if(lt(iw,ih),{short_side},-2)",
            h=f"if(lt(iw,ih),-2,{short_side})",
            flags="area",
        )
    import ffmpeg

    output = ffmpeg.output(stream, "pipe:", format="image2pipe", vcodec="ppm")
    process = _FfmpegProcess(_ffmpeg_command(find_ffmpeg(config.ffmpeg_binary), output, probe))
    emitted = 0
    chunk: list[np.ndarray] = []
    last_frame = None
    try:
        while emitted + len(chunk) < num_frames:
            frame = _read_ppm_frame(process.stdout)
            if frame is None:
                break
            last_frame = frame
            chunk.append(frame)
            if len(chunk) == chunk_frames:
                yield np.stack(chunk)
                emitted += len(chunk)
                chunk = []
        decoded = emitted + len(chunk)
        if decoded < num_frames:
            status = process.finish()
            if last_frame is None:
                raise VideoReadError(
                    probe.path,
                    f"no picture could be decoded (ffmpeg: {process.last_error()}, exit {status}); "
                    "check the file plays, or re-encode it",
                )
            _check_decoded(probe, decoded / frame_rate, probe.video_duration_seconds, "video", config)
            chunk.extend([last_frame] * (num_frames - decoded))
        while chunk:
            yield np.stack(chunk[:chunk_frames])
            chunk = chunk[chunk_frames:]
    finally:
        process.kill()


def iter_audio_samples(
    probe: VideoProbe,
    config: DecodeConfig,
    sample_rate: int,
    num_samples: int,
    chunk_samples: int,
) -> Iterator[tuple[np.ndarray, int]]:
    """Mono float32 audio at `sample_rate` in chunks, `num_samples` in all.

    Yields (samples (n,), real) where `real` counts the samples of the chunk that were
    decoded (the rest are zero padding past the end of the sound). The sound is aligned so
    sample 0 is at time 0 of the grid (a late start is padded with silence).
    A file without audio yields only padding.
    """
    if not probe.has_audio:
        for start in range(0, num_samples, chunk_samples):
            yield np.zeros(min(chunk_samples, num_samples - start), dtype=np.float32), 0
        return
    import ffmpeg

    output = ffmpeg.output(
        _input(probe, config)[str(probe.audio_stream_index)],
        "pipe:",
        format="f32le",
        ac=1,
        ar=sample_rate,
        af="aresample=async=1:first_pts=0",
    )
    process = _FfmpegProcess(_ffmpeg_command(find_ffmpeg(config.ffmpeg_binary), output, probe))
    decoded = 0
    ended = False
    try:
        for start in range(0, num_samples, chunk_samples):
            wanted = min(chunk_samples, num_samples - start)
            data = b"" if ended else process.stdout.read(wanted * 4)
            real = len(data) // 4
            samples = np.zeros(wanted, dtype=np.float32)
            samples[:real] = np.frombuffer(data[: real * 4], dtype="<f4")
            decoded += real
            if real < wanted and not ended:
                ended = True
                status = process.finish()
                if decoded == 0 and status != 0:
                    raise VideoReadError(
                        probe.path,
                        f"its sound cannot be decoded (ffmpeg: {process.last_error()}); "
                        "re-encode it, or extract without the audio stream",
                    )
                _check_decoded(probe, decoded / sample_rate, probe.audio_duration_seconds, "audio", config)
            yield samples, real
    finally:
        process.kill()
