"""One lifecycle for background work: segmentation jobs and training runs move through it alike.

A row of background work (``SegmentationJob``, ``TrainingRun``) has ``status`` (WorkStatus),
``stage``, ``progress``, ``heartbeat_at``, ``attempts`` and ``worker``. This module owns what is
common to every kind of work:

* **status moves** by compare-and-set (``transition``): ``UPDATE ... WHERE status IN (old)``, acting
  only when one row changed, so a request, a worker and the recovery sweep never both act on a row;
* the **heartbeat** (``Heartbeat``): a running row's worker stamps ``heartbeat_at`` from a thread
  of its own; it stops when the row stops running, or when its stage and progress have not moved
  for JOB_STALL_TIMEOUT_S (a hung worker then stops looking alive);
* the **recovery sweep** (``sweep``): running rows whose stamp is older than
  JOB_HEARTBEAT_TIMEOUT_S (or that a restarted worker of the same name was running) go back to
  the queue while they have been started fewer than JOB_MAX_ATTEMPTS times, else fail with the
  reason; then every queued row the broker holds no message for gets one (``dispatch_missing``);
* **dispatch** (settings.JOB_RUNNER): ``celery`` sends the kind's task *by name* (no task module
  is imported here); ``thread`` (embedded mode) hands the row to the kind's ``Pool``, a worker
  thread given its work function when the app registers the kind (``register``, from
  ``AppConfig.ready``), plus a watchdog thread that runs the sweep; ``off`` sends nothing.

What differs between kinds (a job's images, a run's one-active-run flag, websocket events) is in
the ``WorkKind`` hooks. This module imports no app: apps import it.
"""
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, models, transaction
from django.db.models import DateTimeField, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

logger = logging.getLogger(__name__)


class WorkStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


ACTIVE_STATUSES = (WorkStatus.QUEUED, WorkStatus.RUNNING)

WORKER_LOST = (
    "The worker running this {what} stopped {n} times before it finished (killed, out of memory, or stuck); "
    "{advice}"
)


def stage_share(spans: dict, stage: str, fraction: float) -> float | None:
    """Where ``fraction`` (0..1) of an engine stage lies in a piece of work whose stages take the
    shares ``spans`` ({stage: (start, end)}, 0..1): start + (end - start) * fraction, the fraction
    clipped to 0..1; None for a stage ``spans`` does not name."""
    if stage not in spans:
        return None
    start, end = spans[stage]
    return start + (end - start) * min(max(float(fraction), 0.0), 1.0)


def transition(model, pk: int, *, from_status, to_status: str, where: dict | None = None, **fields) -> bool:
    """Compare-and-set: move row ``pk`` of ``model`` to ``to_status`` (setting ``fields``) only if
    its status is still ``from_status`` (one status or several) and it matches ``where``. True when
    this call moved it; False when someone else moved it first."""
    statuses = (from_status,) if isinstance(from_status, str) else tuple(from_status)
    rows = model.objects.filter(pk=pk, status__in=statuses, **(where or {}))
    return rows.update(status=to_status, **fields) == 1


def take(model, pk: int, *, worker: str, stage: str, now: datetime | None = None, **fields) -> bool:
    """Compare-and-set queued -> running for ``worker``: stamps the heartbeat, counts the start
    (``attempts``) and keeps the first ``started_at``."""
    now = now or timezone.now()
    return transition(
        model, pk, from_status=WorkStatus.QUEUED, to_status=WorkStatus.RUNNING,
        started_at=Coalesce(F("started_at"), Value(now, output_field=DateTimeField())), stage=stage,
        heartbeat_at=now, attempts=F("attempts") + 1, worker=worker[:200], **fields,
    )


# -- heartbeat ------------------------------------------------------------------------------------


class Heartbeat:
    """Stamps the running row's ``heartbeat_at`` every ``interval`` seconds (JOB_HEARTBEAT_INTERVAL_S)
    from a thread of its own, so a long step without progress reports (a large network pass, an
    epoch) does not look like a dead worker. It stops when the block ends or the row stops running,
    and also when the row's ``watch`` fields (stage and progress) have not moved for ``stall``
    seconds (JOB_STALL_TIMEOUT_S): the recovery sweep then takes the row over.

    ``clock`` (monotonic seconds) is injectable: unit tests drive ``beat()`` with a fake clock
    instead of sleeping."""

    def __init__(self, model, pk: int, *, interval: float | None = None, stall: float | None = None,
                 clock: Callable[[], float] = time.monotonic, watch: tuple[str, ...] = ("stage", "progress")):
        self.model, self.pk, self.watch, self.clock = model, pk, watch, clock
        self.interval = settings.JOB_HEARTBEAT_INTERVAL_S if interval is None else interval
        self.stall = settings.JOB_STALL_TIMEOUT_S if stall is None else stall
        self._stop = threading.Event()
        self._seen, self._since = None, clock()

    def __enter__(self):
        if self.interval > 0:
            name = f"{self.model._meta.model_name}-{self.pk}-heartbeat"
            threading.Thread(target=self._run, name=name, daemon=True).start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()  # not joined: a stamp still in flight is a harmless compare-and-set

    def beat(self) -> bool:
        """One beat: stamp the row if it is running and has moved within ``stall``; False once the
        heartbeat should stop (the row stopped running, or stalled)."""
        running = self.model.objects.filter(pk=self.pk, status=WorkStatus.RUNNING)
        seen = running.values_list(*self.watch).first()
        if seen is None:
            return False
        now = self.clock()
        if seen != self._seen:
            self._seen, self._since = seen, now
        elif self.stall > 0 and now - self._since > self.stall:
            logger.error("%s %s: no progress for %.0f s; heartbeat stopped so that the recovery sweep takes it over",
                         self.model._meta.verbose_name, self.pk, self.stall, extra={"work_id": self.pk})
            return False
        return running.update(heartbeat_at=timezone.now()) == 1

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    if not self.beat():
                        return
                except DatabaseError as exc:  # the database is away; try again next beat
                    logger.warning("%s %s: heartbeat failed: %s", self.model._meta.verbose_name, self.pk, exc)
                    connection.close()
        finally:
            connection.close()


# -- kinds of work --------------------------------------------------------------------------------


def _nothing(*args, **kwargs) -> None:
    return None


@dataclass(frozen=True)
class WorkKind:
    """What the lifecycle needs to know about one kind of background work.

    ``task``: the Celery task name a message goes to; it takes the row's id when ``by_id`` (else a
    message is a *turn*: the worker takes whichever queued row is next in fair order).
    ``queue``: the Celery queue of that task (settings.CELERY_TASK_ROUTES routes it).
    ``on_requeued(pk, fields)`` and ``on_failed(pk, error)`` run inside the sweep's transaction
    after the row moved (the kind's own rows, events); ``requeue_fields(row)`` adds fields to the
    re-queue (a job's progress so far); ``fail_fields`` to every fail.
    """

    name: str
    model: type
    task: str
    queue: str
    what: str
    advice: str
    by_id: bool = False
    requeue_fields: Callable = lambda row: {}
    on_requeued: Callable = _nothing
    on_failed: Callable = _nothing
    fail_fields: dict = field(default_factory=dict)
    interrupted: str = "The server stopped while this {what} was running; start it again."
    worker_prefix: str = "thread-"  # the embedded pool's worker names: thread-1, thread-2, ...


_kinds: dict[str, WorkKind] = {}
_pools: dict[str, "Pool"] = {}


def register(kind: WorkKind, *, work: Callable[[int, str], object]) -> None:
    """Make ``kind`` known to the sweep and dispatch; ``work(pk, worker)`` runs one message in the
    embedded pool. Apps call this from ``AppConfig.ready``; registering again replaces."""
    _kinds[kind.name] = kind
    if kind.name in _pools:
        _pools[kind.name].kind, _pools[kind.name].work = kind, work
    else:
        _pools[kind.name] = Pool(kind, work)


def kinds() -> list[WorkKind]:
    return list(_kinds.values())


def kind(name: str) -> WorkKind:
    return _kinds[name]


def pool(name: str) -> "Pool":
    return _pools[name]


# -- the recovery sweep ---------------------------------------------------------------------------


def stale(model, *, now: datetime | None = None) -> QuerySet:
    """Running rows whose worker has not stamped ``heartbeat_at`` for JOB_HEARTBEAT_TIMEOUT_S."""
    before = (now or timezone.now()) - timedelta(seconds=settings.JOB_HEARTBEAT_TIMEOUT_S)
    return model.objects.filter(status=WorkStatus.RUNNING).filter(
        Q(heartbeat_at__lt=before) | Q(heartbeat_at__isnull=True, started_at__lt=before)
    )


@transaction.atomic
def sweep(kind: WorkKind, *, restarted_worker: str = "", now: datetime | None = None) -> dict:
    """Recover the rows of ``kind`` whose worker died, then queue messages that were lost.

    Stale running rows (or rows ``restarted_worker`` was running before it restarted) are re-queued
    while they have been started fewer than JOB_MAX_ATTEMPTS times, else failed with the reason.
    Once committed, the broker gets a message for each queued row it has none for.
    Returns ``{"requeued": [ids], "failed": [ids]}``."""
    model = kind.model
    dead = stale(model, now=now)
    if restarted_worker:
        dead = model.objects.filter(status=WorkStatus.RUNNING).filter(
            Q(pk__in=dead.values("pk")) | Q(worker=restarted_worker)
        )
    requeued, failed = [], []
    now = now or timezone.now()
    for row in dead.only("pk", "attempts", "heartbeat_at"):
        same = {"heartbeat_at": row.heartbeat_at}
        if row.attempts < settings.JOB_MAX_ATTEMPTS:
            stage = f"re-queued: its worker stopped (start {row.attempts} of at most {settings.JOB_MAX_ATTEMPTS})"
            fields = {"stage": stage, "heartbeat_at": None, "worker": "", **kind.requeue_fields(row)}
            if not transition(model, row.pk, from_status=WorkStatus.RUNNING, to_status=WorkStatus.QUEUED,
                              where=same, **fields):
                continue  # it came back to life, or finished, meanwhile
            kind.on_requeued(row.pk, fields)
            requeued.append(row.pk)
        else:
            error = WORKER_LOST.format(what=kind.what, n=row.attempts, advice=kind.advice)
            if not transition(model, row.pk, from_status=WorkStatus.RUNNING, to_status=WorkStatus.FAILED, where=same,
                              stage="failed", error=error, finished_at=now, **kind.fail_fields):
                continue
            kind.on_failed(row.pk, error)
            failed.append(row.pk)
    if requeued or failed:
        logger.warning(
            "recovered %s of dead workers: re-queued %s, failed %s", kind.name, requeued, failed,
            extra={"requeued": requeued, "failed": failed, "restarted_worker": restarted_worker},
        )
    transaction.on_commit(lambda: dispatch_missing(kind))
    return {"requeued": requeued, "failed": failed}


def sweep_all(*, restarted_worker: str = "") -> dict[str, dict]:
    """``sweep`` every registered kind (celery beat's ``work.recover``, and each worker's start)."""
    return {k.name: sweep(k, restarted_worker=restarted_worker) for k in kinds()}


def recover_on_worker_start(sender=None, **kwargs) -> None:
    """Celery's ``worker_ready``: a worker that restarts re-queues what it was running (its
    heartbeat may still look fresh). Connected by InferenceConfig.ready."""
    hostname = getattr(sender, "hostname", "") or ""
    try:
        result = sweep_all(restarted_worker=hostname)
    except Exception:  # the database may not be up yet: the periodic sweep will do it
        logger.warning("worker %s: could not recover work on start", hostname, exc_info=True)
        return
    if any(r["requeued"] or r["failed"] for r in result.values()):
        logger.warning("worker %s recovered work on start: %s", hostname, result)


@transaction.atomic
def fail_interrupted(kind: WorkKind, *, except_worker: str = "") -> list[int]:
    """Fail every running row of ``kind`` but those of ``except_worker`` (only for a single-process
    runner: no other process can be running them). Returns their ids."""
    error = kind.interrupted.format(what=kind.what)
    running = kind.model.objects.filter(status=WorkStatus.RUNNING)
    if except_worker:
        running = running.exclude(worker=except_worker)
    ids = list(running.values_list("pk", flat=True))
    failed = [pk for pk in ids if transition(kind.model, pk, from_status=WorkStatus.RUNNING, to_status=WorkStatus.FAILED,
                                             stage="failed", error=error, finished_at=timezone.now(), **kind.fail_fields)]
    for pk in failed:
        kind.on_failed(pk, error)
    return failed


# -- dispatch -------------------------------------------------------------------------------------


def enqueue(kind: WorkKind, pk: int) -> None:
    """Hand row ``pk`` to whatever runs ``kind`` once the current transaction commits."""
    transaction.on_commit(lambda: dispatch(kind, pk))


def dispatch(kind: WorkKind, pk: int) -> None:
    """Send row ``pk`` of ``kind`` to its runner now (settings.JOB_RUNNER). A broker that is down
    is logged, not raised: the row stays queued in the database and the sweep sends it later."""
    runner = settings.JOB_RUNNER
    if runner == "thread":
        pool(kind.name).put(pk)
    elif runner == "celery":
        from cellposeweb.celery import app

        try:
            app.send_task(kind.task, args=[pk] if kind.by_id else [], queue=kind.queue)
        except Exception as exc:  # the row is safe in the database; the recovery sweep sends it
            logger.warning("%s %s: could not reach the broker (%s); it stays queued", kind.what, pk, exc,
                           extra={"work_id": pk, "kind": kind.name})
    elif runner != "off":
        raise ValueError(f"JOB_RUNNER must be 'thread', 'celery' or 'off', got {runner!r}")


def queue_lengths() -> dict[str, int]:
    """Messages waiting in each queue: {"gpu": n, ...} with celery, {kind name: n} with the
    embedded pools, {} when JOB_RUNNER=off."""
    if settings.JOB_RUNNER == "thread":
        return {name: p.waiting() for name, p in _pools.items()}
    if settings.JOB_RUNNER != "celery":
        return {}
    from cellposeweb.celery import app

    lengths = {}
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        client = getattr(channel, "client", None)
        for name in sorted({k.queue for k in kinds()} | {"gpu", "cpu", "training"}):
            if client is not None and hasattr(client, "llen"):  # Redis: a list per queue
                lengths[name] = int(client.llen(name))
            else:
                lengths[name] = channel.queue_declare(queue=name, passive=True).message_count
    return lengths


def dispatch_missing(kind: WorkKind) -> int:
    """Send one message for each queued row of ``kind`` beyond the messages already waiting (a
    broker restart, or a broker that was down when the row was queued, loses them); returns how
    many were sent. Extra messages are harmless: a worker that finds nothing queued does nothing."""
    if settings.JOB_RUNNER not in {"thread", "celery"}:
        return 0
    queued = list(kind.model.objects.filter(status=WorkStatus.QUEUED).order_by("created_at", "pk")
                  .values_list("pk", flat=True))
    if not queued:
        return 0
    try:
        waiting = queue_lengths().get(kind.name if settings.JOB_RUNNER == "thread" else kind.queue, 0)
    except Exception as exc:  # the broker is down: the next sweep will try again
        logger.warning("could not read the queue lengths: %s", exc)
        return 0
    missing = queued[waiting:]
    for pk in missing:
        dispatch(kind, pk)
    if missing:
        logger.info("sent %d message(s) for queued %s that had none", len(missing), kind.name,
                    extra={"sent": len(missing), "kind": kind.name})
    return len(missing)


# -- the embedded pool (JOB_RUNNER=thread) --------------------------------------------------------


class Pool:
    """Embedded mode for one kind: a daemon worker thread consuming a queue of row ids, and a
    watchdog thread that runs the recovery sweep every JOB_RECOVER_INTERVAL_S (as celery beat
    does in production). At its first start the pool fails rows a stopped process left running
    and picks up rows left queued. When the sweep takes a row from a worker thread that hung (its
    heartbeat stopped), a fresh worker thread takes over the queue and the hung one is abandoned.
    Embedded mode is one process; run several web processes only with ``celery``."""

    def __init__(self, kind: WorkKind, work: Callable[[int, str], object]):
        self.kind, self.work = kind, work
        self._queue: "queue.Queue[int]" = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Thread | None = None
        self._generation = 0  # a worker thread works while this equals the value it was started with
        self._running = 0  # the generation of the worker thread running a row now (0: none)
        self._running_pk: int | None = None  # ... and the row it runs
        self._watch_lock = threading.Lock()  # one watch round at a time (the watchdog's, a test's)
        self._recovered = threading.Event()  # set once the first worker thread's recover() ran

    def worker_name(self, generation: int) -> str:
        return f"{self.kind.worker_prefix}{generation}"

    def put(self, pk: int) -> None:
        self.start()
        self._queue.put(pk)

    def waiting(self) -> int:
        return self._queue.qsize()

    def start_and_wait(self, timeout: float = 30.0) -> bool:
        """Start the pool and wait until its first ``recover`` has run, so that a row another
        thread of this process takes from now on is not failed as a stopped process's leftover.
        True once it has run."""
        self.start()
        return self._recovered.wait(timeout)

    def is_idle(self) -> bool:
        """True when the worker thread has nothing queued and is not running anything."""
        return self._queue.unfinished_tasks == 0

    def start(self) -> None:
        """Start the worker thread and its watchdog (once; later calls do nothing)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._start_worker_locked()
            if self._watchdog is None or not self._watchdog.is_alive():
                self._watchdog = threading.Thread(target=self._watch, name=f"cellposeweb-{self.kind.name}-watchdog",
                                                  daemon=True)
                self._watchdog.start()

    def _start_worker_locked(self) -> None:
        self._generation += 1
        self._thread = threading.Thread(target=self._work, args=(self._generation,),
                                        name=f"cellposeweb-{self.kind.name}-{self._generation}", daemon=True)
        self._thread.start()

    def fail_orphans(self) -> int:
        """Embedded mode only: fail running rows no thread of this process is running (a stopped
        server left them), at once rather than at the next sweep. Returns how many."""
        if settings.JOB_RUNNER != "thread":
            return 0
        running_here = self.worker_name(self._running) if self._running else ""
        return len(fail_interrupted(self.kind, except_worker=running_here))

    def recover(self) -> None:
        """Fail rows a stopped process left running; queue the rows left waiting."""
        try:
            failed = fail_interrupted(self.kind)
            waiting = list(self.kind.model.objects.filter(status=WorkStatus.QUEUED).order_by("created_at", "pk")
                           .values_list("pk", flat=True))
        except DatabaseError:  # no tables yet (before the first migrate)
            logger.warning("%s worker could not look for unfinished work", self.kind.name, exc_info=True)
            return
        finally:
            close_old_connections()
        if failed:
            logger.warning("marked %d interrupted %s as failed", len(failed), self.kind.name)
        for pk in waiting:
            self._queue.put(pk)

    def watch_once(self) -> dict:
        """One round of the watchdog: the recovery sweep, then a fresh worker thread if the sweep
        took its row from a hung one. Returns the sweep's ``{"requeued", "failed"}``.

        Rounds run one at a time, and the hung thread is recognised after the sweep by the row it is
        still running: deciding before the sweep raced with a concurrent round, which could sweep
        the row while this round still thought it healthy, leaving the queue to the hung thread."""
        with self._watch_lock:
            try:
                result = sweep(self.kind)
            except DatabaseError:
                logger.warning("%s watchdog: the recovery sweep could not reach the database", self.kind.name,
                               exc_info=True)
                return {"requeued": [], "failed": []}
            finally:
                close_old_connections()
            taken = set(result["requeued"] + result["failed"])
            with self._lock:
                generation = self._generation
                if self._running == generation and self._running_pk in taken:
                    logger.error("%s worker %s hung; a fresh worker thread takes over the queue", self.kind.name,
                                 self.worker_name(generation))
                    self._queue.task_done()  # the hung thread's message: it will not mark it done itself
                    self._start_worker_locked()
            self.start()  # and a worker thread that died is replaced
            return result

    def _watch(self) -> None:
        while True:
            time.sleep(settings.JOB_RECOVER_INTERVAL_S)
            if settings.JOB_RUNNER != "thread":  # switched off (tests do, between the runner's tests)
                continue
            try:
                self.watch_once()
            except Exception:
                logger.exception("%s watchdog failed; it tries again next round", self.kind.name)
            finally:
                connection.close()

    def _work(self, generation: int) -> None:
        if generation == 1:
            try:
                self.recover()
            finally:
                self._recovered.set()
        while self._generation == generation:
            pk = self._queue.get()
            with self._lock:
                self._running, self._running_pk = generation, pk
            try:
                close_old_connections()
                self.work(pk, self.worker_name(generation))
            except Exception:
                logger.exception("%s %s: the worker failed", self.kind.what, pk)
            finally:
                connection.close()
                with self._lock:
                    if self._running == generation:
                        self._running, self._running_pk = 0, None
                    if self._generation == generation:  # else the watchdog gave up on this thread and did it
                        self._queue.task_done()


def start_pools(**kwargs) -> None:
    """Start the embedded pools when JOB_RUNNER=thread (connected to ``request_started``: the first
    request a server handles starts them, never an import or a management command)."""
    if settings.JOB_RUNNER == "thread":
        for p in list(_pools.values()):
            if p._thread is None or not p._thread.is_alive():
                p.start()
