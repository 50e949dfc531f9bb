"""Small real videos made with ffmpeg, for the demo, the benchmarks and the tests.

Codecs follow the container: H.264 + AAC for mp4/mov/mkv/m4v, VP9 + Opus for webm,
MPEG-4 Part 2 + MP3 for avi. Frame sizes must be even (4:2:0 chroma). Each file is
written under a temporary name and renamed when ffmpeg succeeds.
"""

from __future__ import annotations

import os
import subprocess
import wave
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from cache.atomic import fitted_name
from extractors.decode import find_ffmpeg

_CODECS = {
    ".webm": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "0", "-crf", "40", "-c:a",
              "libopus"],
    ".avi": ["-c:v", "mpeg4", "-q:v", "5", "-c:a", "libmp3lame"],
}
_DEFAULT_CODECS = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-c:a", "aac"]


def _codec_args(path: Path) -> list[str]:
    return list(_CODECS.get(path.suffix.lower(), _DEFAULT_CODECS))


def _run(args: list[str], path: Path, temp: Path) -> Path:
    result = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True)
    if result.returncode != 0:
        temp.unlink(missing_ok=True)
        message = result.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"ffmpeg could not write {path}: {message[-1] if message else 'no message'}")
    os.replace(temp, path)
    return path


def _temp_name(path: Path, suffix: str | None = None) -> Path:
    """`.STEM.partial.SUFFIX` beside `path` (default suffix: its own), STEM cut to fit the filesystem."""
    return path.with_name(fitted_name(f".{path.stem}", f".partial{path.suffix if suffix is None else suffix}"))


def write_wav(path: Path, samples: np.ndarray, sample_rate: int) -> None:
    """Mono float samples in [-1, 1] as 16-bit PCM WAV."""
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(sample_rate)
        handle.writeframes(pcm.tobytes())


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    fps: float,
    size: tuple[int, int],
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    ffmpeg_binary: str = "",
    extra_args: Iterable[str] = (),
) -> Path:
    """Encode RGB frames ((H, W, 3) uint8, `size` = (W, H)) and optional mono audio."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    temp = _temp_name(path)
    wav = _temp_name(path, ".wav")
    args = [
        find_ffmpeg(ffmpeg_binary), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps}", "-i", "pipe:",
    ]
    if audio is not None:
        write_wav(wav, audio, sample_rate)
        args += ["-i", str(wav)]
    codecs = _codec_args(path)
    if audio is None:
        codecs = codecs[: codecs.index("-c:a")]
    args += [*codecs, "-pix_fmt", "yuv420p", *extra_args, str(temp)]
    try:
        process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            for frame in frames:
                if frame.shape != (height, width, 3) or frame.dtype != np.uint8:
                    raise ValueError(f"frame is {frame.dtype}{frame.shape}, expected uint8({height}, {width}, 3)")
                process.stdin.write(np.ascontiguousarray(frame).tobytes())
            process.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            process.kill()
            process.wait()
            temp.unlink(missing_ok=True)
            raise
        stderr = process.stderr.read().decode("utf-8", "replace").strip()
        if process.wait() != 0:
            temp.unlink(missing_ok=True)
            raise RuntimeError(f"ffmpeg could not write {path}: {stderr.splitlines()[-1] if stderr else 'no message'}")
        os.replace(temp, path)
    finally:
        wav.unlink(missing_ok=True)
    return path


def write_test_pattern_video(
    path: Path,
    duration_seconds: float,
    fps: float = 25.0,
    size: tuple[int, int] = (320, 240),
    tone_hz: float | None = 440.0,
    ffmpeg_binary: str = "",
    extra_args: Iterable[str] = (),
) -> Path:
    """ffmpeg's moving test pattern (testsrc2) with a sine tone (None: no audio track).

    Generated inside ffmpeg, so an hour of low-resolution video takes about a minute.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    temp = _temp_name(path)
    args = [
        find_ffmpeg(ffmpeg_binary), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}:duration={duration_seconds}",
    ]
    codecs = _codec_args(path)
    if tone_hz is None:
        codecs = codecs[: codecs.index("-c:a")]
    else:
        args += ["-f", "lavfi", "-i", f"sine=frequency={tone_hz}:sample_rate=44100:duration={duration_seconds}"]
    if "libx264" in codecs:
        codecs[codecs.index("-preset") + 1] = "ultrafast"
    args += [*codecs, "-pix_fmt", "yuv420p", *extra_args, str(temp)]
    return _run(args, path, temp)


def astronaut_frames(num_frames: int, size: tuple[int, int], face_side: int, seed: int = 0):
    """Frames of a real photo (skimage's astronaut) gliding over a grey background."""
    from skimage.data import astronaut
    from skimage.transform import resize

    width, height = size
    photo = (resize(astronaut(), (face_side, face_side), anti_aliasing=True) * 255).astype(np.uint8)
    rng = np.random.default_rng(seed)
    background = np.full((height, width, 3), 96, dtype=np.uint8)
    for k in range(num_frames):
        phase = k / max(1, num_frames - 1)
        x = int((width - face_side) * (0.5 + 0.5 * np.sin(2 * np.pi * phase)))
        y = (height - face_side) // 2
        frame = background.copy()
        frame[y : y + face_side, x : x + face_side] = photo
        noise = rng.integers(0, 8, size=frame.shape, dtype=np.uint8)
        yield np.minimum(frame.astype(np.uint16) + noise, 255).astype(np.uint8)


def astronaut_video(
    path: Path, duration_seconds: float, fps: float, size: tuple[int, int], photo_side: int, ffmpeg_binary: str = ""
) -> Path:
    """A silent H.264 video of the astronaut photo (`photo_side` pixels) gliding over the
    frame; reused when it already exists (benchmarks generate it once)."""
    path = Path(path)
    if not path.exists():
        frames = astronaut_frames(round(fps * duration_seconds), size, photo_side)
        write_video(path, frames, fps, size, ffmpeg_binary=ffmpeg_binary)
    return path
