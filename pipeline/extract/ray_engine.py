"""The Ray engine of `extract` (`--engine ray`): the same per-video work as the local engine
(pipeline/extract/video.py), spread over Ray tasks (the audio stream) and actors that keep
their models loaded (visual, face), on this machine or a cluster, one writer per cache
entry, bounded retries after a worker dies. The design (what runs where, the retry rule,
the Ray session, why the numbers equal the local engine's) is in docs/ray-engine.md.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import ray
from ray.exceptions import RayError, RayTaskError
from tqdm import tqdm

from cache.identity import ExtractorIdentity
from cache.store import FeatureCache
from extractors.hardware import available_cores
from pipeline.config import Config, ConfigError
from pipeline.config.extract import ExtractConfig
from pipeline.console import printable, to_stderr
from pipeline.extract.discovery import VideoFile
from pipeline.extract.planned import PlannedExtractor, make_extractors
from pipeline.extract.video import VideoOutcome, extract_video, prepare_cache

REPO_ROOT = Path(__file__).resolve().parents[2]
# Set here, they reach the workers (a started instance inherits them anyway; a cluster gets them).
FORWARDED_ENVIRONMENT = (
    "TORCH_HOME", "DEEPFACE_HOME", "DEEPFACE_LOG_LEVEL", "XDG_CACHE_HOME", "FSENET_OFFLINE", "FSENET_CACHE_DIR",
)
ACTOR_WAIT_NOTE_SECONDS = 30.0  # say what the driver waits for when model workers take this long to start
CONNECT_TIMEOUT_SECONDS = 5.0
RESTART_POLL_SECONDS = 0.5  # how often the driver asks whether Ray has restarted a dead model actor


class RayEngineError(ConfigError):
    """The Ray engine cannot run as configured (cluster unreachable, too small, or workers
    that differ from this machine); one line that says what to change."""


# -- what runs on the workers -----------------------------------------------------------
def _silent(message: str) -> None:
    """Workers do not repeat the driver's warnings."""


def config_for_streams(config: Config, streams: tuple[str, ...]) -> Config:
    return replace(config, extract=replace(config.extract, streams=streams))


def run_cpu_streams(
    video: VideoFile, cache_root: str, config: Config, streams: tuple[str, ...], allow_random_weights: bool, debug: bool
) -> VideoOutcome:
    """Ray task: one video's CPU streams (their extractors load nothing, so they are made here)."""
    extractors = make_extractors(config_for_streams(config, streams), "cpu", allow_random_weights, log=_silent)
    return extract_video(video, FeatureCache(cache_root), extractors, config, show_progress=False, debug=debug)


def warm_up() -> int:
    """Ray task that only starts a worker process: unpickling it imports this module (torch
    and the extractors), which the CPU-stream tasks then find done."""
    return os.getpid()


def actor_device(choice: str) -> str:
    """The torch device of a model actor: its Ray-assigned GPU ("cuda" inside the actor,
    Ray sets CUDA_VISIBLE_DEVICES) unless the config says cpu or no GPU was assigned."""
    return "cuda" if choice != "cpu" and ray.get_gpu_ids() else "cpu"


def identity_difference(expected: dict[str, dict], extractors: dict[str, PlannedExtractor]) -> str:
    """'' when every extractor has the driver's identity, else which stream differs and how."""
    for stream, extractor in extractors.items():
        wanted, here = ExtractorIdentity(expected[stream]), ExtractorIdentity(extractor.identity())
        difference = wanted.difference(here, stream)
        if difference is None:
            continue
        if difference.startswith("weights"):
            return (f"its {stream} weights differ from this machine's ({here.weights_words()} vs "
                    f"{wanted.weights_words()}); give every node the same checkpoint, e.g. "
                    f"--set {stream}.weights_path=FILE on a shared filesystem")
        return (f"its {stream} extractor differs from this machine's in {difference} (package versions?); "
                "install the same environment on every node")
    return ""


class ModelStreamWorker:
    """Ray actor: loads the model streams' extractors once, then extracts one video per call.

    Construction never raises: a failure (missing weights on this node, an identity that
    differs from the driver's) is kept in `setup_error`, reported by `ready()` (the driver
    then stops before any work) and, should it appear only after a restart, given as the
    reason of every video this actor is handed.
    """

    def __init__(
        self, config: Config, streams: tuple[str, ...], allow_random_weights: bool,
        expected_identities: dict[str, dict], torch_threads: int,
    ):
        started = time.perf_counter()
        self.config = config
        self.node = ray.util.get_node_ip_address()
        self.device = "cpu"
        self.setup_error = ""
        self.extractors: dict[str, PlannedExtractor] = {}
        try:
            self.device = actor_device(config.extract.device)
            settings = config_for_streams(config, streams)
            if settings.visual.torch_threads == 0:
                settings = replace(settings, visual=replace(settings.visual, torch_threads=torch_threads))
            self.extractors = make_extractors(settings, self.device, allow_random_weights, log=_silent, lazy=False)
            self.setup_error = identity_difference(expected_identities, self.extractors)
        except Exception as error:  # reported by ready(); the driver stops the run with it
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            self.setup_error = f"{type(error).__name__}: {first_line}"
        self.load_seconds = time.perf_counter() - started

    def ready(self) -> dict:
        return {
            "node": self.node, "pid": os.getpid(), "device": self.device, "load_seconds": self.load_seconds,
            "error": self.setup_error,
        }

    def extract(self, video: VideoFile, cache_root: str, debug: bool) -> VideoOutcome:
        if self.setup_error:
            return VideoOutcome(video.video_id, str(video.path), "failed",
                                f"Ray worker on {self.node}: {self.setup_error}")
        return extract_video(video, FeatureCache(cache_root), self.extractors, self.config, show_progress=False,
                             debug=debug)


# -- the Ray session ----------------------------------------------------------------------
def worker_environment() -> dict[str, str]:
    """Environment variables every worker gets: this repository on PYTHONPATH (a cluster's
    workers start elsewhere), and where models and their files are, when set here."""
    env = {name: os.environ[name] for name in FORWARDED_ENVIRONMENT if name in os.environ}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def check_reachable(address: str) -> None:
    """Fail fast on a HOST:PORT nobody answers at (ray.init would retry for minutes)."""
    if address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise RayEngineError(
            f"extract.ray_address={address!r}: expected auto, HOST:PORT (e.g. 10.0.0.5:6379) or ray://HOST:PORT"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_SECONDS).close()
    except OSError as error:
        raise RayEngineError(
            f"cannot reach the Ray cluster at {address} ({error.strerror or error}); start it with `ray start --head` "
            "there, fix --ray-address, or leave it empty to start Ray on this machine"
        ) from None


@contextmanager
def ray_session(settings: ExtractConfig, debug: bool) -> Iterator[str]:
    """Ray for one run (see the module docstring); yields a description for people."""
    if ray.is_initialized():
        yield "the Ray instance this process was already connected to"
        return
    options = {
        "logging_level": logging.INFO if debug else logging.ERROR,
        "log_to_driver": debug,  # with --debug, workers' tracebacks reach this terminal
        "runtime_env": {"env_vars": worker_environment()},
    }
    if settings.ray_address:
        check_reachable(settings.ray_address)
        try:
            ray.init(address=settings.ray_address, **options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            hint = "" if os.environ.get("RAY_AUTH_MODE") else (
                " (a cluster with token authentication, Ray's default for `ray start`, also needs RAY_AUTH_MODE=token "
                "and its token in ~/.ray/auth_token or RAY_AUTH_TOKEN)"
            )
            detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise RayEngineError(
                f"cannot connect to the Ray cluster at {settings.ray_address}: {detail}{hint}"
            ) from None
        description = f"connected to the Ray cluster at {settings.ray_address}"
    else:
        num_cpus = settings.ray_num_cpus or available_cores()
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **options)
        description = f"started Ray on this machine ({num_cpus} CPUs)"
    try:
        yield description
    finally:
        ray.shutdown()


# -- planning the model actors ------------------------------------------------------------
@dataclass(frozen=True)
class ActorPlan:
    count: int
    num_cpus: float  # per actor
    num_gpus: int  # per actor: 1 on a cluster with GPUs (unless the device is cpu), else 0
    torch_threads: int  # per actor, when visual.torch_threads is 0


def plan_model_actors(settings: ExtractConfig, cluster_cpus: float, cluster_gpus: float,
                      has_cpu_streams: bool) -> ActorPlan:
    """How many model actors, and what each reserves, so that they fit the cluster and
    leave at least one CPU for the CPU-stream tasks when there are any."""
    if settings.device.startswith("cuda") and cluster_gpus < 1:
        raise RayEngineError(
            f"extract.device={settings.device} but the Ray cluster has no GPU; use --device auto or cpu"
        )
    use_gpus = settings.device != "cpu" and cluster_gpus >= 1
    per_actor = settings.ray_cpus_per_model_actor
    cpu_room = cluster_cpus - (1 if has_cpu_streams else 0)
    fitting = int(cpu_room // per_actor)
    if use_gpus:
        fitting = min(fitting, int(cluster_gpus))
    wanted = settings.ray_model_actors or (int(cluster_gpus) if use_gpus else max(1, int(cluster_cpus // 2)))
    if fitting < 1 or (settings.ray_model_actors and wanted > fitting):
        tasks = " and 1 CPU for the CPU-stream tasks" if has_cpu_streams else ""
        raise RayEngineError(
            f"the Ray cluster ({cluster_cpus:g} CPUs, {cluster_gpus:g} GPUs) cannot hold {max(wanted, 1)} model "
            f"worker(s) of {per_actor:g} CPU{' and 1 GPU' if use_gpus else ''} each{tasks}; lower "
            "extract.ray_model_actors or extract.ray_cpus_per_model_actor, or raise extract.ray_num_cpus"
        )
    return ActorPlan(min(wanted, fitting), per_actor, 1 if use_gpus else 0, max(1, int(per_actor)))


def split_streams(extractors: dict[str, PlannedExtractor]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(CPU streams, model streams), each in the config's order: a stream whose extractor
    has weights runs a network and belongs on a model actor."""
    cpu = tuple(s for s, e in extractors.items() if e.weights_identity() is None)
    return cpu, tuple(s for s in extractors if s not in cpu)


# -- the driver ---------------------------------------------------------------------------
@dataclass
class RayRun:
    """What the Ray engine did: outcomes in the order of the videos, and, for people and
    benchmarks, the cluster, the workers and the time each part took (seconds)."""

    outcomes: list[VideoOutcome]
    device: str
    session: str
    cluster_cpus: float
    cluster_gpus: float
    cpu_streams: list[str]
    model_streams: list[str]
    model_actors: list[dict] = field(default_factory=list)  # node, pid, device, load_seconds per actor
    ray_start_seconds: float = 0.0
    actors_ready_seconds: float = 0.0  # from creating the model actors until all had loaded their extractors
    work_seconds: float = 0.0  # from the first video handed out until the last result
    finished_at_seconds: list[float] = field(default_factory=list)  # when each video was done, from the first hand-out

    def details(self) -> dict:
        details = asdict(self)
        del details["outcomes"]
        return details


@dataclass
class _Job:
    index: int
    video: VideoFile  # as discovered: the report shows its path as the user gave it
    remote_video: VideoFile  # absolute path, for workers whose working folder is elsewhere
    retries: int = 0
    cpu_outcome: VideoOutcome | None = None


def merged_outcome(job: _Job, model_outcome: VideoOutcome | None, stream_order: tuple[str, ...]) -> VideoOutcome:
    """One outcome per video as the local engine gives it, from its phases' outcomes."""
    parts = [o for o in (job.cpu_outcome, model_outcome) if o is not None]
    failed = next((o for o in parts if o.status == "failed"), None)
    if failed is not None:
        outcome = VideoOutcome(job.video.video_id, str(job.video.path), "failed", failed.reason)
    else:
        written = [s for s in stream_order if any(s in o.streams_written for o in parts)]
        outcome = VideoOutcome(
            job.video.video_id, str(job.video.path), "extracted" if written else "up to date",
            streams_written=written, num_snippets=parts[-1].num_snippets,
        )
    outcome.retries = job.retries
    return outcome


def death_reason(error: RayError, attempts: int) -> str:
    return (f"its Ray worker died {attempts} time(s) while extracting it ({type(error).__name__}: killed, out of "
            "memory or crashed); the workers' logs are in the Ray session folder (session_latest/logs)")


def task_error_reason(error: RayTaskError) -> str:
    """A Python error that escaped `extract_video` (it should not): the local engine's form."""
    cause = error.cause if isinstance(getattr(error, "cause", None), Exception) else error
    text = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {text} (rerun with --debug for details)"


@dataclass
class _Call:
    """What an object ref in flight stands for: a CPU-stream task or a model-actor call
    for a video, or a probe of whether a restarted actor is back (job: the video to give it then)."""

    kind: str  # "cpu" | "model" | "probe"
    job: _Job | None
    actor: int | None = None


def is_restarting(error: RayError) -> bool:
    """An actor Ray is restarting (it answers again later), as opposed to one dead for good."""
    unavailable = getattr(ray.exceptions, "ActorUnavailableError", None)
    return unavailable is not None and isinstance(error, unavailable)


class _Scheduler:
    """Hands videos to CPU tasks and model actors, pipelined with ray.wait, and restarts a
    video whose worker died (module docstring)."""

    def __init__(
        self, jobs: list[_Job], cache_root: str, config: Config, streams: tuple[tuple[str, ...], tuple[str, ...]],
        actors: list, allow_random_weights: bool, debug: bool, cpu_window: int, log: Callable[[str], None],
    ):
        self.cache_root, self.config, self.debug, self.log = cache_root, config, debug, log
        (self.cpu_streams, self.model_streams), self.allow_random_weights = streams, allow_random_weights
        self.actors = actors
        self.cpu_window = cpu_window
        self.max_retries = config.extract.ray_max_retries
        self.pending_cpu: deque[_Job] = deque(jobs if self.cpu_streams else [])
        self.pending_model: deque[_Job] = deque([] if self.cpu_streams else jobs)
        self.idle_actors: deque[int] = deque(range(len(actors)))
        self.dead_actors: set[int] = set()
        self.probe_later: list[tuple[float, int, _Job | None]] = []  # (monotonic time, actor, video to give it)
        self.in_flight: dict = {}  # ObjectRef -> _Call
        self.outcomes: list[VideoOutcome | None] = [None] * len(jobs)
        self.cpu_task = ray.remote(num_cpus=1, max_retries=0)(run_cpu_streams)
        self.bar: tqdm | None = None
        self.started = time.perf_counter()
        self.finished_at: list[float] = []  # seconds from the start, one per video done

    # -- submitting ---------------------------------------------------------------------
    def _submit_cpu(self, job: _Job) -> None:
        name = f"fsenet {'+'.join(self.cpu_streams)}: {job.video.video_id}"  # `ps` shows ray::<name>
        ref = self.cpu_task.options(name=name).remote(
            job.remote_video, self.cache_root, self.config, self.cpu_streams, self.allow_random_weights, self.debug
        )
        self.in_flight[ref] = _Call("cpu", job)

    def _submit_model(self, job: _Job, actor: int) -> None:
        name = f"fsenet {'+'.join(self.model_streams)}: {job.video.video_id}"
        ref = self.actors[actor].extract.options(name=name).remote(job.remote_video, self.cache_root, self.debug)
        self.in_flight[ref] = _Call("model", job, actor)

    def _submit_probe(self, actor: int, job: _Job | None) -> None:
        self.in_flight[self.actors[actor].ready.remote()] = _Call("probe", job, actor)

    def _fill(self) -> None:
        now = time.monotonic()
        for due in [entry for entry in self.probe_later if entry[0] <= now]:
            self.probe_later.remove(due)
            self._submit_probe(due[1], due[2])
        while self.pending_cpu and sum(c.kind == "cpu" for c in self.in_flight.values()) < self.cpu_window:
            self._submit_cpu(self.pending_cpu.popleft())
        while self.pending_model and self.idle_actors:
            self._submit_model(self.pending_model.popleft(), self.idle_actors.popleft())

    # -- results ------------------------------------------------------------------------
    def _finish(self, job: _Job, model_outcome: VideoOutcome | None) -> None:
        self.outcomes[job.index] = merged_outcome(job, model_outcome, self.config.extract.streams)
        self._count_done()

    def _fail(self, job: _Job, reason: str) -> None:
        self.outcomes[job.index] = VideoOutcome(
            job.video.video_id, str(job.video.path), "failed", reason, retries=min(job.retries, self.max_retries)
        )
        self._count_done()

    def _count_done(self) -> None:
        self.finished_at.append(time.perf_counter() - self.started)
        self.bar.update(1)

    def _no_model_worker_left(self) -> bool:
        if len(self.dead_actors) < len(self.actors):
            return False
        while self.pending_model:
            self._fail(self.pending_model.popleft(), "every Ray model worker died for good (they kept dying on "
                       "start-up?); see the Ray logs (session_latest/logs) and rerun")
        return True

    def _on_death(self, call: _Call, error: RayError) -> None:
        """The worker running `call` died: the video goes again (a task anywhere; an actor
        call on the same actor once Ray has restarted it) or, out of retries, fails."""
        job = call.job
        job.retries += 1
        retry = job.retries <= self.max_retries
        if retry:
            self.log(f"note: the Ray worker extracting {printable(job.video.video_id)} died ({type(error).__name__}); "
                     f"retry {job.retries} of {self.max_retries}")
        else:
            self._fail(job, death_reason(error, job.retries))
        if call.kind == "cpu":
            if retry:
                self.pending_cpu.appendleft(job)
        else:  # the same actor: a call it might still be running cannot overlap the retry
            self._submit_probe(call.actor, job if retry else None)

    def _on_probe(self, call: _Call, ref) -> None:
        try:
            ray.get(ref)
        except RayError as error:
            if is_restarting(error):
                self.probe_later.append((time.monotonic() + RESTART_POLL_SECONDS, call.actor, call.job))
                return
            self.dead_actors.add(call.actor)
            if call.job is not None:
                self._fail(call.job, death_reason(error, call.job.retries))
            self._no_model_worker_left()
            return
        if call.job is not None:
            self._submit_model(call.job, call.actor)
        else:
            self.idle_actors.append(call.actor)

    def _on_result(self, ref) -> None:
        call = self.in_flight.pop(ref)
        if call.kind == "probe":
            self._on_probe(call, ref)
            return
        job = call.job
        try:
            outcome = ray.get(ref)
        except RayTaskError as error:
            outcome = VideoOutcome(job.video.video_id, str(job.video.path), "failed", task_error_reason(error))
        except RayError as error:
            self._on_death(call, error)
            return
        if call.kind == "model":
            self.idle_actors.append(call.actor)
            self._finish(job, outcome)
            return
        job.cpu_outcome = outcome
        if outcome.status == "failed" or not self.actors:
            self._finish(job, None)
        else:
            self.pending_model.append(job)
            self._no_model_worker_left()

    def run(self, show_progress: bool) -> list[VideoOutcome]:
        with tqdm(total=len(self.outcomes), unit="video", desc="extract (ray)", disable=not show_progress,
                  file=sys.stderr) as self.bar:
            self.started = time.perf_counter()
            self._fill()
            while self.in_flight or self.probe_later:
                timeout = RESTART_POLL_SECONDS if self.probe_later else None
                done, _ = ray.wait(list(self.in_flight), num_returns=1, timeout=timeout) if self.in_flight else ([], [])
                if not self.in_flight:
                    time.sleep(RESTART_POLL_SECONDS)
                for ref in done:
                    self._on_result(ref)
                self._fill()
        return [o for o in self.outcomes if o is not None]


def start_model_actors(
    plan: ActorPlan, config: Config, streams: tuple[str, ...], allow_random_weights: bool,
    identities: dict[str, dict], max_restarts: int, log: Callable[[str], None],
) -> tuple[list, list[dict]]:
    """Start the model actors and wait until every one has loaded its extractors; a worker
    that cannot (missing weights there, other weights, no GPU) stops the run before any work."""
    actor_class = ray.remote(
        num_cpus=plan.num_cpus, num_gpus=plan.num_gpus, max_restarts=max_restarts, max_task_retries=0,
    )(ModelStreamWorker)
    actors = [
        actor_class.remote(config, streams, allow_random_weights, {s: identities[s] for s in streams},
                           plan.torch_threads)
        for _ in range(plan.count)
    ]
    pending = {actor.ready.remote(): index for index, actor in enumerate(actors)}
    infos: list[dict] = [{}] * len(actors)
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=ACTOR_WAIT_NOTE_SECONDS)
            if not done:
                log(f"note: waiting for Ray to start {len(pending)} model worker(s) ({plan.num_cpus:g} CPU"
                    f"{', 1 GPU' if plan.num_gpus else ''} each); `ray status` shows what the cluster has free")
            for ref in done:
                try:
                    info = ray.get(ref)
                except RayError as error:
                    raise RayEngineError("a Ray model worker died while loading its "
                                         f"extractors ({type(error).__name__}); "
                                         "see the Ray logs (session_latest/logs)") from None
                if info["error"]:
                    raise RayEngineError(f"the Ray worker on {info['node']} cannot run the {'+'.join(streams)} "
                                         f"stream(s): {info['error']}")
                infos[pending.pop(ref)] = info
    except BaseException:
        for actor in actors:
            ray.kill(actor)
        raise
    return actors, infos


def describe_run(run: RayRun) -> str:
    """One line for people: where Ray runs and which worker does what."""
    parts = [f"ray: {run.session} in {run.ray_start_seconds:.1f} s"]
    if run.model_actors:
        slowest = max(info["load_seconds"] for info in run.model_actors)
        parts.append(f"{len(run.model_actors)} model worker(s) for {'+'.join(run.model_streams)} on {run.device} "
                     f"(extractors loaded in {slowest:.1f} s)")
    if run.cpu_streams:
        parts.append(f"{'+'.join(run.cpu_streams)} as tasks")
    return "; ".join(parts)


def extract_on_ray(
    videos: list[VideoFile],
    cache: FeatureCache,
    config: Config,
    allow_random_weights: bool,
    debug: bool,
    show_progress: bool,
    log: Callable[[str], None] = to_stderr,
) -> RayRun:
    """Extract `videos` into `cache` with Ray (see the module docstring); outcomes in the
    order of `videos`, as the local engine gives them."""
    settings = config.extract
    checked = make_extractors(config, "cpu", allow_random_weights, log, say_device=False)  # the local engine's checks
    identities = {stream: extractor.identity() for stream, extractor in checked.items()}
    cpu_streams, model_streams = split_streams(checked)
    del checked
    jobs = [
        _Job(index, video, VideoFile(video.video_id, Path(os.path.abspath(video.path))))
        for index, video in enumerate(videos)
    ]
    started = time.perf_counter()
    with ray_session(settings, debug) as session:
        ray_start_seconds = time.perf_counter() - started
        resources = ray.cluster_resources()
        run = RayRun([], "cpu", session, resources.get("CPU", 0.0), resources.get("GPU", 0.0),
                     list(cpu_streams), list(model_streams), ray_start_seconds=ray_start_seconds)
        actors: list = []
        if model_streams:
            plan = plan_model_actors(settings, run.cluster_cpus, run.cluster_gpus, bool(cpu_streams))
            # Task workers start and import while the model workers load (0 CPUs: nothing waits
            # for them); the CPU-stream tasks then reuse them. About 4 s sooner on 2 cores.
            task_slots = max(1, int(run.cluster_cpus - plan.count * plan.num_cpus)) if cpu_streams else 0
            warm_ups = [ray.remote(num_cpus=0)(warm_up).remote() for _ in range(min(task_slots, len(jobs)))]
            started = time.perf_counter()
            # Enough restarts for every retry the videos may use; a worker that keeps dying on
            # start-up then ends as dead instead of restarting forever.
            max_restarts = len(jobs) * (settings.ray_max_retries + 1)
            actors, run.model_actors = start_model_actors(
                plan, config, model_streams, allow_random_weights, identities, max_restarts, log
            )
            run.actors_ready_seconds = time.perf_counter() - started
            del warm_ups  # done or not, they need no answer
            run.device = ", ".join(sorted({info["device"] for info in run.model_actors}))
        log(describe_run(run))
        try:
            prepare_cache(cache, config)
            cpu_slots = max(1, int(run.cluster_cpus - len(actors) * settings.ray_cpus_per_model_actor))
            scheduler = _Scheduler(
                jobs, str(cache.root.resolve()), config, (cpu_streams, model_streams), actors,
                allow_random_weights, debug,
                cpu_window=2 * cpu_slots, log=log,
            )
            started = time.perf_counter()
            run.outcomes = scheduler.run(show_progress)
            run.work_seconds = time.perf_counter() - started
            run.finished_at_seconds = scheduler.finished_at
        finally:
            for actor in actors:
                ray.kill(actor)
    return run
