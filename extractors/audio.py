"""Audio stream: MFCCs (librosa) pooled per snippet into one fixed-width vector.

Per snippet: the mean and the standard deviation over the snippet's MFCC frames of the
MFCCs and of their deltas, so D = 4 * n_mfcc (160 by default), in that order:
[mean(mfcc), std(mfcc), mean(delta), std(delta)].

Each snippet is computed from its own samples plus a fixed margin on both sides (enough
for the STFT window and the delta filter), so the numbers do not depend on how the
stream is chunked, and memory stays flat however long the video is. The log-mel step
has no level clipping relative to a batch maximum for the same reason. The matrix products
run on one BLAS thread: OpenBLAS sums in another order with more threads (results differ
by ~1e-7), and a feature must not depend on how many cores the process had.
Snippets with no sound (no audio track, or past its end) are zeros with mask 0; the mask
is the fraction of the snippet covered by decoded sound.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from extractors.base import ProgressCallback, StreamExtractor, StreamFeatures
from extractors.decode import DecodeConfig, VideoProbe, iter_audio_samples
from extractors.grid import SnippetGrid
from model.setting_checks import check_int, check_number, require


@dataclass(frozen=True)
class AudioConfig:
    sample_rate: int = 16000  # Hz; sound is decoded to mono at this rate
    n_mfcc: int = 40
    n_mels: int = 64
    window_seconds: float = 0.025  # STFT window (and FFT) length
    hop_seconds: float = 0.010
    fmin: float = 20.0  # Hz
    fmax: float = 7600.0  # Hz, at most sample_rate / 2
    delta_width: int = 9  # frames in the delta filter, odd
    chunk_snippets: int = 64  # snippets computed per batch (speed only)

    def __post_init__(self) -> None:
        check_int("audio.sample_rate", self.sample_rate, 1000, note="Hz")
        check_int("audio.n_mels", self.n_mels, 1)
        check_int("audio.n_mfcc", self.n_mfcc)
        require(1 <= self.n_mfcc <= self.n_mels,
                f"audio.n_mfcc must be in [1, n_mels={self.n_mels}], got {self.n_mfcc}")
        check_number("audio.window_seconds", self.window_seconds, 0, low_open=True)
        require(self.window_seconds * self.sample_rate >= 16,
                f"audio.window_seconds must span >= 16 samples, got {self.window_seconds}")
        check_number("audio.hop_seconds", self.hop_seconds, 0, self.window_seconds, low_open=True,
                     note="at most audio.window_seconds")
        check_number("audio.fmax", self.fmax, 0, self.sample_rate / 2, low_open=True,
                     note="Hz, at most sample_rate / 2")
        check_number("audio.fmin", self.fmin, 0, self.fmax, high_open=True, note="Hz, below audio.fmax")
        check_int("audio.delta_width", self.delta_width, 3)
        require(self.delta_width % 2 == 1, f"audio.delta_width must be odd and >= 3, got {self.delta_width}")
        check_int("audio.chunk_snippets", self.chunk_snippets, 1)

    @property
    def window_samples(self) -> int:
        return round(self.window_seconds * self.sample_rate)

    @property
    def hop_samples(self) -> int:
        return max(1, round(self.hop_seconds * self.sample_rate))


def snippet_mfcc_stats(windows: np.ndarray, context: int, lengths: np.ndarray, config: AudioConfig) -> np.ndarray:
    """Pooled MFCC statistics of a batch of snippet windows.

    windows: (N, L) float32 samples, each = `context` samples before the snippet, the
        snippet, then padding/context; lengths: (N,) snippet lengths in samples.
    Returns (N, 4 * n_mfcc) float32: MFCC and delta means and standard deviations over
    the frames whose centre lies inside the snippet.
    """
    import librosa  # here: loading the config section must not load librosa (and numba)

    window, hop = config.window_samples, config.hop_samples
    mel_power = librosa.feature.melspectrogram(
        y=windows, sr=config.sample_rate, n_fft=window, hop_length=hop, win_length=window,
        center=False, power=2.0, n_mels=config.n_mels, fmin=config.fmin, fmax=config.fmax,
    )
    log_mel = librosa.power_to_db(mel_power, ref=1.0, amin=1e-10, top_db=None)
    mfcc = librosa.feature.mfcc(S=log_mel, n_mfcc=config.n_mfcc)  # (N, n_mfcc, F)
    delta = librosa.feature.delta(mfcc, width=config.delta_width, axis=-1, mode="interp")
    centers = np.arange(mfcc.shape[-1]) * hop + window / 2 - context  # relative to snippet start
    inside = (centers[None, :] >= 0) & (centers[None, :] < lengths[:, None])  # (N, F)
    weights = inside / inside.sum(axis=1, keepdims=True)
    stats = []
    for values in (mfcc, delta):
        mean = np.einsum("ncf,nf->nc", values, weights)
        variance = np.einsum("ncf,nf->nc", (values - mean[..., None]) ** 2, weights)
        stats += [mean, np.sqrt(np.maximum(variance, 0.0))]
    return np.concatenate(stats, axis=1).astype(np.float32)


class AudioExtractor(StreamExtractor):
    name = "audio"
    version = 2  # 2: BLAS on one thread (the numbers no longer depend on the core count)
    runtime_fields = ("chunk_snippets",)
    settings: AudioConfig

    @property
    def output_dim(self) -> int:
        return 4 * self.settings.n_mfcc

    @classmethod
    def planned_identity(cls, settings: AudioConfig, decode: DecodeConfig, allow_random_weights: bool) -> dict:
        """Known from the settings alone (no weights): building it loads nothing."""
        return cls(settings, decode).identity()

    def extract(self, probe: VideoProbe, grid: SnippetGrid, progress: ProgressCallback) -> StreamFeatures:
        from threadpoolctl import threadpool_limits

        config = self.settings
        count = grid.num_snippets
        features = np.zeros((count, self.output_dim), dtype=np.float32)
        mask = np.zeros(count, dtype=np.float32)
        if not probe.has_audio:
            progress(count)
            return StreamFeatures(features, mask)

        # Snippet i covers samples [bounds[i], bounds[i + 1]).
        bounds = np.round(np.arange(count + 1) * grid.snippet_seconds * config.sample_rate).astype(np.int64)
        lengths = np.diff(bounds)
        context = config.window_samples // 2 + (config.delta_width // 2) * config.hop_samples
        window_length = int(lengths.max()) + 2 * context
        total = int(bounds[-1])
        chunk_samples = config.chunk_snippets * int(math.ceil(grid.snippet_seconds * config.sample_rate))
        reader = iter_audio_samples(probe, self.decode, config.sample_rate, total, chunk_samples)

        buffer_start = -context  # sample index of buffer[0]; negative indices are silence
        buffer = np.zeros(context, dtype=np.float32)
        decoded = 0  # real samples so far (they are contiguous from sample 0)
        exhausted = False
        for first in range(0, count, config.chunk_snippets):
            last = min(first + config.chunk_snippets, count)
            needed_end = int(bounds[last - 1]) - context + window_length
            pieces = [buffer]
            have_end = buffer_start + len(buffer)
            while have_end < needed_end and not exhausted:
                try:
                    samples, real = next(reader)
                except StopIteration:
                    exhausted = True
                    break
                pieces.append(samples)
                have_end += len(samples)
                decoded += real
            if have_end < needed_end:
                pieces.append(np.zeros(needed_end - have_end, dtype=np.float32))
            buffer = np.concatenate(pieces)
            window_starts = bounds[first:last] - context - buffer_start
            windows = buffer[window_starts[:, None] + np.arange(window_length)[None, :]]
            with threadpool_limits(limits=1, user_api="blas"):
                features[first:last] = snippet_mfcc_stats(windows, context, lengths[first:last], config)
            covered = np.clip(decoded - bounds[first:last], 0, lengths[first:last])
            mask[first:last] = covered / lengths[first:last]
            keep_from = int(bounds[last]) - context - buffer_start
            buffer = buffer[keep_from:]
            buffer_start += keep_from
            progress(last - first)
        for _ in reader:  # surface a truncation error from the decoder, if any
            pass
        features[mask == 0] = 0.0
        return StreamFeatures(features, mask)
