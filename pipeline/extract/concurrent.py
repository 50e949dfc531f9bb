"""The local engine with several videos at once (`extract.workers` > 1, or 0 for every core).

Worker processes (spawned, one per worker) do each video's CPU work: decoding, the
visual stream's clips, the face stream's detection, crops and preprocessing (each
stream's `InputMaker`, extractors/base.py), and whole the streams without a network
(audio). They hand the network inputs, batch by batch, each through its own pipe to
this process, which holds ONE instance of each network (the run's planned extractors)
and embeds the batches as they come, interleaved across videos; so memory stays bounded
whatever the folder's size (a worker's send waits until this process reads it: at most
one batch per worker in flight, and a video's features are assembled as its batches are
embedded; each worker has at most two videos handed to it).

Everything that touches the cache happens here, as in the one-at-a-time engine
(pipeline/extract/video.py): each video is probed, its entry locked (held until its
streams are written), prepared and checked here; its stale streams are written in the
order of `extract.streams`, each as soon as it and the streams before it are done, with
the same atomic writes. A video whose stream fails is reported with the same one-line
reason, the streams before it kept, the ones after it dropped (as the one-at-a-time
engine, which stops there); a worker process that dies (killed, out of memory) fails only
the video it was working on (the next one handed to it goes to its replacement), and a
pipe of its own means a message it left half-written harms no other worker. Batches are
embedded exactly as `extract` forms them, one video's batch per forward pass, so the
arrays equal the one-at-a-time engine's bit for bit.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import sys
from dataclasses import dataclass, field
from typing import Any

from tqdm import tqdm

from cache.store import FeatureCache
from extractors.base import FeatureAssembler, InputMaker, StreamExtractor, StreamFeatures
from extractors.decode import DecodeConfig, VideoProbe, probe_video
from extractors.grid import SnippetGrid
from extractors.hardware import available_cores
from extractors.registry import EXTRACTORS
from pipeline.config import Config
from pipeline.extract.discovery import VideoFile
from pipeline.extract.planned import PlannedExtractor
from pipeline.extract.video import (
    PreparedEntry,
    VideoOutcome,
    failed_outcome,
    failure_reason,
    prepare_entry,
    stale_streams,
)

POLL_SECONDS = 1.0  # how often the engine checks that its workers are alive while it waits


def resolve_workers(workers: int) -> int:
    """extract.workers: 0 means one worker per core this process may use."""
    return workers or available_cores()


# -- the worker processes -----------------------------------------------------------------
@dataclass(frozen=True)
class WorkerPlan:
    """What a worker needs to make its CPU halves: the streams' settings, the (resolved)
    decode settings, the networks' device (batch sizes depend on it)."""

    config: Config
    decode: DecodeConfig
    device: str
    allow_random_weights: bool
    debug: bool


@dataclass(frozen=True)
class WorkerJob:
    number: int  # the video's index in the run
    probe: VideoProbe
    grid: SnippetGrid
    streams: tuple[str, ...]  # stale streams, in order


def make_cpu_half(stream: str, plan: WorkerPlan) -> InputMaker | StreamExtractor:
    """The stream's InputMaker, or the whole extractor for a stream without a network half."""
    extractor_class = EXTRACTORS[stream]
    settings = getattr(plan.config, stream)
    maker = extractor_class.input_maker(settings, plan.decode, plan.device)
    return maker if maker is not None else extractor_class(settings, plan.decode, "cpu", plan.allow_random_weights)


def run_job(job: WorkerJob, halves: dict[str, Any], plan: WorkerPlan, channel) -> None:
    """One video's CPU work, its messages sent on `channel`: ("batch", n, stream, InputBatch)
    ... ("done", n, stream, None), or ("features", n, stream, StreamFeatures), or
    ("fail", n, stream, one-line reason), after which the video's later streams are skipped."""
    for stream in job.streams:
        try:
            if stream not in halves:
                halves[stream] = make_cpu_half(stream, plan)
            half = halves[stream]
            if isinstance(half, InputMaker):
                for batch in half.batches(job.probe, job.grid):
                    channel.send(("batch", job.number, stream, batch))
                channel.send(("done", job.number, stream, None))
            else:
                channel.send(("features", job.number, stream, half.extract(job.probe, job.grid, lambda count: None)))
        except Exception as error:  # this video fails; the worker goes on with the next one
            if plan.debug:
                import traceback

                traceback.print_exception(error)
            channel.send(("fail", job.number, stream, failure_reason(error)))
            return


def cpu_worker(plan: WorkerPlan, channel) -> None:
    """A worker process: takes jobs from its channel (a pipe to the engine, its own, so a
    worker killed mid-message damages no other's) until it gets None. Its own work runs on
    one thread (the parallelism is the processes); torch loads only for the streams that
    need it. A send blocks until the engine reads: at most one batch in flight per worker."""
    if "torch" in sys.modules:  # loaded with the config's sections; its few ops here need no thread pool
        sys.modules["torch"].set_num_threads(1)
    halves: dict[str, Any] = {}
    with contextlib.suppress(KeyboardInterrupt, EOFError, BrokenPipeError):  # Ctrl-C, or the engine is gone
        while (job := channel.recv()) is not None:
            run_job(job, halves, plan, channel)


# -- this process: the cache, the networks ------------------------------------------------
@dataclass
class ActiveVideo:
    """A video whose entry this run holds locked while its streams are computed."""

    video: VideoFile
    entry: PreparedEntry
    locks: contextlib.ExitStack
    streams: list[str]  # stale, in order; written in this order
    assemblers: dict[str, FeatureAssembler] = field(default_factory=dict)
    results: dict[str, StreamFeatures] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    worker: Any = None  # the Worker doing its CPU work
    job: WorkerJob | None = None  # what that worker was sent

    @property
    def untouched(self) -> bool:
        """No message from its worker yet (so it can be handed to another one)."""
        return not (self.assemblers or self.results or self.written)


@dataclass
class Worker:
    process: Any
    channel: Any  # this end of its pipe
    jobs: int = 0  # videos handed to it and not yet finished


class WorkerPool:
    """The spawned worker processes, each with its own pipe; a dead one is replaced."""

    def __init__(self, plan: WorkerPlan, count: int):
        self.context = multiprocessing.get_context("spawn")
        self.plan = plan
        self.workers = [self._start() for _ in range(count)]

    def _start(self) -> Worker:
        here, there = self.context.Pipe(duplex=True)
        process = self.context.Process(target=cpu_worker, args=(self.plan, there), daemon=True,
                                       name="fsenet-extract-worker")
        process.start()
        there.close()  # only the worker holds its end: its death reads as end-of-file here
        return Worker(process, here)

    def least_busy(self) -> Worker:
        return min(self.workers, key=lambda worker: worker.jobs)

    def wait(self, timeout: float) -> list[Worker]:
        """The workers with a message to read (or dead: reading them fails) within `timeout` s."""
        ready = set(multiprocessing.connection.wait([w.channel for w in self.workers], timeout))
        return [w for w in self.workers if w.channel in ready]

    def replace(self, dead: Worker) -> None:
        dead.channel.close()
        dead.process.join(timeout=5)
        self.workers = [self._start() if w is dead else w for w in self.workers]

    def close(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.channel.send(None)
        for worker in self.workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(timeout=5)
            worker.channel.close()


class ConcurrentRun:
    """One run of the concurrent engine over `videos` (outcomes in their order)."""

    def __init__(self, videos: list[VideoFile], cache: FeatureCache, extractors: dict[str, PlannedExtractor],
                 config: Config, workers: int, debug: bool):
        self.videos, self.cache, self.extractors, self.config = videos, cache, extractors, config
        self.workers, self.debug = workers, debug
        self.outcomes: dict[int, VideoOutcome] = {}
        self.active: dict[int, ActiveVideo] = {}
        self.pool: WorkerPool | None = None
        self.bar: Any = None

    # -- starting a video -----------------------------------------------------------------
    def start(self, number: int, wait: bool) -> bool:
        """Probe, lock, prepare; done at once when up to date or broken, else handed to the
        workers. False when another run holds the entry (and wait is False)."""
        video, locks, entry, written = self.videos[number], contextlib.ExitStack(), None, []
        try:
            probe = probe_video(video.path)
            if not locks.enter_context(self.cache.entry_lock(video.video_id, wait)):
                locks.close()
                return False
            entry = prepare_entry(video, self.cache, self.config, probe)
            streams = stale_streams(video, entry, self.cache, self.extractors)
            if not streams:
                locks.close()
                return self.finish(number, VideoOutcome(video.video_id, str(video.path), "up to date",
                                                        num_snippets=entry.grid.num_snippets))
            pool = self.workers_pool()  # started first: the workers load while the networks are built
            for stream in streams:
                self.extractors[stream].ready()  # a network is built for the first video that needs it
            self.active[number] = ActiveVideo(video, entry, locks, streams,
                                              job=WorkerJob(number, probe, entry.grid, tuple(streams)))
            self.hand_over(self.active[number], pool.least_busy())
            return True
        except Exception as error:
            locks.close()
            return self.finish(number, failed_outcome(video, self.cache, error, self.debug, written, entry))

    @staticmethod
    def hand_over(active: ActiveVideo, worker: Worker) -> None:
        worker.channel.send(active.job)
        worker.jobs += 1
        active.worker = worker

    def workers_pool(self) -> WorkerPool:
        if self.pool is None:
            first = next(iter(self.extractors.values()))
            networks = [e for e in self.extractors.values() if e.runs_network and e.device is not None]
            device = networks[0].device.resolve() if networks else "cpu"  # said once, as when a network is built
            plan = WorkerPlan(self.config, first.decode, device, first.allow_random_weights, self.debug)
            self.pool = WorkerPool(plan, self.workers)
        return self.pool

    def finish(self, number: int, outcome: VideoOutcome) -> bool:
        active = self.active.pop(number, None)
        if active is not None:
            active.locks.close()
            if active.worker is not None:
                active.worker.jobs -= 1
        self.outcomes[number] = outcome
        if self.bar is not None:
            self.bar.update(1)
        return True

    # -- what the workers send --------------------------------------------------------------
    def on_message(self, kind: str, number: int, stream: Any, payload: Any) -> None:
        active = self.active.get(number)
        if active is None:  # a video already failed: the rest of its messages are dropped
            return
        if kind == "fail":
            outcome = VideoOutcome(active.video.video_id, str(active.video.path), "failed", payload,
                                   streams_written=active.written, num_snippets=active.entry.grid.num_snippets)
            self.finish(number, outcome)
            return
        try:
            self.take(active, kind, stream, payload)
            self.write_ready(number, active)
        except Exception as error:
            self.finish(number,
                        failed_outcome(active.video, self.cache, error, self.debug, active.written, active.entry))

    def take(self, active: ActiveVideo, kind: str, stream: str, payload: Any) -> None:
        if kind == "features":
            active.results[stream] = payload
            return
        extractor = self.extractors[stream].ready()
        if stream not in active.assemblers:
            active.assemblers[stream] = extractor.assembler(active.entry.grid)
        if kind == "batch":
            active.assemblers[stream].add(payload, extractor.embed_inputs(payload.inputs))
        else:  # "done"
            active.results[stream] = active.assemblers.pop(stream).result()

    def write_ready(self, number: int, active: ActiveVideo) -> None:
        """Write the streams whose turn has come (all before them written); finish when all are."""
        while len(active.written) < len(active.streams) and active.streams[len(active.written)] in active.results:
            stream = active.streams[len(active.written)]
            result = active.results.pop(stream)
            self.cache.write_stream(active.video.video_id, active.entry.meta, stream, result.features, result.mask,
                                    result.extras, self.extractors[stream].identity())
            active.written.append(stream)
        if len(active.written) == len(active.streams):
            self.finish(number, VideoOutcome(active.video.video_id, str(active.video.path), "extracted",
                                             streams_written=active.written,
                                             num_snippets=active.entry.grid.num_snippets))

    def on_dead_worker(self, dead: Worker) -> None:
        """Fail the video a dead worker was working on (with its exit code), replace the
        worker and hand the new one the videos the dead one had not begun."""
        dead.process.join(timeout=5)
        reason = (f"the worker process decoding it died (exit code {dead.process.exitcode}; out of memory?); "
                  "rerun extract to try it again")
        held = [number for number, active in self.active.items() if active.worker is dead]  # oldest first
        self.pool.replace(dead)
        for position, number in enumerate(held):
            active = self.active[number]
            if position > 0 and active.untouched:
                self.hand_over(active, self.pool.least_busy())
            else:
                self.on_message("fail", number, None, reason)

    # -- the loop ---------------------------------------------------------------------------
    def wait_for_messages(self) -> None:
        for worker in self.pool.wait(POLL_SECONDS):
            try:
                message = worker.channel.recv()
            except (EOFError, OSError):  # it died (its pipe closed, maybe mid-message)
                self.on_dead_worker(worker)
                continue
            self.on_message(*message)

    def run(self, show_progress: bool) -> list[VideoOutcome]:
        in_flight_limit = 2 * self.workers
        pending, busy = list(range(len(self.videos))), []
        with tqdm(total=len(self.videos), unit="video", desc="extract", disable=not show_progress,
                  file=sys.stderr) as self.bar:
            try:
                while pending or busy or self.active:
                    while pending and len(self.active) < in_flight_limit:
                        number = pending.pop(0)
                        if not self.start(number, wait=False):
                            busy.append(number)  # another run holds it: after the others, then waited for
                    if not pending and not self.active and busy:
                        self.start(busy.pop(0), wait=True)
                    if self.active:
                        self.wait_for_messages()
            finally:
                for active in self.active.values():
                    active.locks.close()
                if self.pool is not None:
                    self.pool.close()
        return [self.outcomes[number] for number in range(len(self.videos))]


def extract_concurrently(videos: list[VideoFile], cache: FeatureCache, extractors: dict[str, PlannedExtractor],
                         config: Config, show_progress: bool, debug: bool) -> list[VideoOutcome]:
    """The concurrent local engine (see the module's docstring); outcomes in the order of `videos`."""
    workers = resolve_workers(config.extract.workers)
    return ConcurrentRun(videos, cache, extractors, config, workers, debug).run(show_progress)
