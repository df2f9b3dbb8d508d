"""The worker: claims PENDING dispatches oldest first and runs each in a thread via an executor.

Claiming is a conditional PENDING -> RUNNING update, so two workers never run the same
dispatch, and only of dispatches created here (origin outpost-admin), never the control
plane's. The terminal write releases the tenant's concurrency slot in the same transaction,
and is retried until it is recorded. The worker's own slots live in the pool table (an item
per agent type it can run) and are heart-beaten while it runs. With `recover_every`, the
worker also runs recovery (reconcile.sweep) that often, under a lease, so one worker of
many does it at a time.
"""

import logging
import os
import re
import signal
import socket
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from billing import runner as billing
from dispatches import claim_queue, lifecycle
from dispatches import selectors as dispatch_selectors
from dispatches.agents import is_available
from dispatches.domain import Dispatch, DispatchStatus
from outpost_admin.agents import AGENTS
from outpost_admin.audit import Actor
from outpost_admin.billing_marks import billing_on
from outpost_admin.dynamo import NotFound, StoreError, Unavailable, utcnow
from usage import backfill
from webhooks.delivery import Deliverer

from . import recovery as reconcile
from . import selectors as fleet
from . import services as pool
from .domain import Slot
from .executors import Adopting, Executor, Outcome, StopReason, default_executor

logger = logging.getLogger(__name__)


def default_worker_id() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{socket.gethostname()}-{os.getpid()}")


@dataclass(frozen=True)
class Verdict:
    status: DispatchStatus
    exit_code: int | None = None
    error_message: str = ""
    status_reason: str = ""


def verdict(outcome: Outcome, *, timeout_seconds: int) -> Verdict:
    """How a finished run is recorded."""
    if outcome.error:
        return Verdict(
            DispatchStatus.FAILED, error_message=outcome.error, status_reason=outcome.error
        )
    stopped = f" ECS: {outcome.stop_reason}" if outcome.stop_reason else ""
    if outcome.timed_out:
        reason = f"Killed after {timeout_seconds} s.{stopped}"
        return Verdict(DispatchStatus.TIMEOUT, status_reason=reason)
    code = outcome.exit_code
    if code == 0:
        return Verdict(DispatchStatus.COMPLETED, exit_code=0, status_reason=stopped.strip())
    if code is not None and code < 0:
        reason = f"Killed by signal {signal.Signals(-code).name}."
        return Verdict(DispatchStatus.FAILED, 128 - code, outcome.output_tail or reason, reason)
    reason = f"Exited with code {code}.{stopped}"
    return Verdict(DispatchStatus.FAILED, code, outcome.output_tail or reason, reason)


class Worker:
    def __init__(
        self,
        *,
        worker_id: str | None = None,
        concurrency: int = 1,
        executor: Executor | None = None,
        tenant_id: str | None = None,
        poll_seconds: float = 1.0,
        drain_seconds: float = 30.0,
        recover_every: float | None = None,
        follow_every: float | None = None,
        bill_every: float | None = None,
        adopt_seconds: float = 10.0,
        deliver_webhooks: bool = False,
    ):
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency
        self.executor = executor or default_executor()
        self.tenant_id = tenant_id  # a worker dedicated to one tenant (and tests)
        self.poll_seconds, self.drain_seconds = poll_seconds, drain_seconds
        self.recover_every = recover_every
        self.follow_every = follow_every  # the streams, for the usage roll-ups and backfill
        self.bill_every = bill_every  # the billing pass (Stripe), while billing is on
        self.adopt_seconds = adopt_seconds
        # Webhook deliveries, in a thread (and a bounded pool) of their own: a slow receiver
        # never holds a dispatch's thread nor its terminal write.
        self.deliverer = Deliverer(tenant_id=tenant_id) if deliver_webhooks else None
        self._next_adoption = 0.0
        self.processed = 0
        self.claim_conflicts = 0  # claims another worker won (the bench counts them)
        self.sweeps = 0  # recovery passes this worker ran (holding the lease)
        self._slots: dict[str, Slot] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()  # claim nothing more
        self._aborting = threading.Event()  # hand running dispatches back
        self._done = threading.Event()

    def stop(self) -> None:
        """The first call stops claiming; the second also hands running dispatches back."""
        if self._stopping.is_set():
            self._aborting.set()
        self._stopping.set()
        self._wake.set()

    def run(self, *, once: bool = False) -> int:
        """Work until stop() (or, with once, until nothing is pending); returns dispatches run."""
        self._recover_own()
        agents = tuple(a for a in AGENTS if is_available(a)) or tuple(AGENTS)
        slots = pool.slots_register(worker_id=self.worker_id, count=self.concurrency, agents=agents)
        for slot in slots:
            self._slots[slot.task_arn] = slot
        helpers = [threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)]
        if self.recover_every:
            helpers.append(threading.Thread(target=self._recover, name="recovery", daemon=True))
        if self.follow_every:
            helpers.append(threading.Thread(target=self._follow, name="streams", daemon=True))
        if self.deliverer:
            helpers.append(threading.Thread(target=self._deliver, name="webhooks", daemon=True))

        if self.bill_every and billing_on():
            helpers.append(threading.Thread(target=self._bill, name="billing", daemon=True))
        for helper in helpers:
            helper.start()
        try:
            self._loop(once)
        finally:
            self._stopping.set()
            self._drain()
            self._done.set()
            for helper in helpers:
                helper.join(timeout=30)
            self._retire()
        return self.processed

    def _recover_own(self) -> None:
        """What an earlier run under this id left RUNNING was interrupted (ids are unique among
        live workers): its agents are stopped and its dispatches queued again, at once."""
        report = reconcile.recover_worker(self.worker_id, requeue=True)
        if report.requeued:
            logger.warning(
                "worker %s: queued again %d dispatch(es) its last run left running: %s",
                self.worker_id,
                len(report.requeued),
                ", ".join(report.requeued),
            )

    def _loop(self, once: bool) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                claimed = self._adopt() + self._claim()
            except Unavailable as exc:
                logger.warning("worker %s: store unavailable: %s", self.worker_id, exc)
                claimed = 0
            if once and not claimed and not self._busy():
                return
            if not claimed:
                self._wake.wait(self.poll_seconds)

    # --- claiming ---------------------------------------------------------------------

    def _free_slots(self) -> list[Slot]:
        with self._lock:
            return [s for arn, s in self._slots.items() if arn not in self._threads]

    def _busy(self) -> bool:
        with self._lock:
            return bool(self._threads)

    def _claim(self) -> int:
        """Fill free slots from the claim queue: every shard from a random one on, among the
        oldest of each; a claim another worker won sends this one to the next shard."""
        free, claimed = self._free_slots(), 0
        for shard in claim_queue.shard_order() if free else ():
            for candidate in claim_queue.claim_candidates(
                shard, wanted=len(free), tenant_id=self.tenant_id
            ):
                if self._stopping.is_set() or not free:
                    return claimed
                dispatch = self._claim_one(candidate)
                if dispatch is None:
                    break  # another worker is at this shard's head: try the next shard
                self._start(free.pop(0), dispatch)
                claimed += 1
            if not free:
                break
        return claimed

    def _claim_one(self, candidate: Dispatch) -> Dispatch | None:
        """Claim it (the answer is the whole dispatch); None if another worker won."""
        claimed = lifecycle.dispatch_claim(candidate, worker_id=self.worker_id)
        if claimed is None:
            self.claim_conflicts += 1
        return claimed

    def _adopt(self) -> int:
        """Take over the ECS tasks of workers that died (executors whose work outlives us).
        It starts from the dead workers in the pool, so a round reads the same however many
        workers are alive and whatever they run; the worker's own tasks are followed apart."""
        if not isinstance(self.executor, Adopting) or time.monotonic() < self._next_adoption:
            return 0
        self._next_adoption = time.monotonic() + self.adopt_seconds
        free, adopted = self._free_slots(), 0
        if not free:
            return 0
        dead: dict[str, bool] = {}
        for candidate in fleet.dead_workers_dispatches(now=utcnow()):
            owner = candidate.worker_id
            if not free or self._stopping.is_set():
                break
            others = self.tenant_id and candidate.tenant_id != self.tenant_id
            if owner == self.worker_id or others:  # a worker dedicated to one tenant
                continue
            if owner not in dead:  # the pool's Query may lag: a consistent read confirms it
                dead[owner] = not fleet.worker_is_alive(worker_id=owner, now=utcnow())
            if dead[owner] and (
                dispatch := lifecycle.dispatch_adopt(candidate, worker_id=self.worker_id)
            ):
                logger.info(
                    "worker %s: adopted %s from %s", self.worker_id, dispatch.dispatch_id, owner
                )
                self._start(free.pop(0), dispatch, adopted=True)
                adopted += 1
        return adopted

    def _start(self, slot: Slot, dispatch: Dispatch, *, adopted: bool = False) -> None:
        logger.info(
            "worker %s: running %s (%s)", self.worker_id, dispatch.dispatch_id, dispatch.agent
        )
        thread = threading.Thread(
            target=self._run_one,
            args=(slot, dispatch, adopted),
            name=f"dispatch-{dispatch.dispatch_id}",
        )
        with self._lock:
            self._threads[slot.task_arn] = thread
            try:
                self._slots[slot.task_arn] = pool.slot_take(slot, dispatch_id=dispatch.dispatch_id)
            except StoreError as exc:  # the slot item is for operators; the run goes on
                logger.warning(
                    "worker %s: could not mark %s: %s", self.worker_id, slot.task_arn, exc
                )
        thread.start()

    # --- running one dispatch ----------------------------------------------------------

    def _run_one(self, slot: Slot, dispatch: Dispatch, adopted: bool) -> None:
        runner = self.executor.run
        if adopted and isinstance(self.executor, Adopting):
            runner = self.executor.adopt
        try:
            outcome = runner(dispatch, check=lambda: self._check(dispatch))
        except Exception as exc:
            logger.exception("worker %s: %s crashed", self.worker_id, dispatch.dispatch_id)
            outcome = Outcome(error=f"The worker failed to run it: {exc}")
        try:
            self._settle(dispatch, outcome)
        except Exception:
            logger.exception("worker %s: could not record %s", self.worker_id, dispatch.dispatch_id)
        finally:
            self._free(slot)

    def _check(self, dispatch: Dispatch) -> StopReason | None:
        """Polled about once a second while the dispatch runs."""
        if self._aborting.is_set():
            return StopReason.SHUTDOWN
        try:
            current = dispatch_selectors.dispatch_get(
                tenant_id=None, dispatch_id=dispatch.dispatch_id
            )
        except NotFound:
            return StopReason.CANCELLED
        except StoreError:
            return None  # keep running; ask again next time
        if current.status.is_terminal:
            return StopReason.CANCELLED
        if current.status != DispatchStatus.RUNNING or current.worker_id != self.worker_id:
            return StopReason.LOST
        return None

    def _settle(self, dispatch: Dispatch, outcome: Outcome) -> None:
        if outcome.stopped == StopReason.SHUTDOWN:
            reason = f"Worker {self.worker_id} stopped before it finished; queued again."
            lifecycle.dispatch_requeue(
                dispatch, reason=reason, actor=Actor(f"worker {self.worker_id}")
            )
            return
        if outcome.stopped:
            return  # cancelled or taken over: whoever did that wrote the status
        result = verdict(outcome, timeout_seconds=dispatch.timeout_seconds)
        self._finish(dispatch, result, outcome)
        with self._lock:
            self.processed += 1

    def _finish(self, dispatch: Dispatch, result: Verdict, outcome: Outcome) -> None:
        """Record the outcome, trying again until it is recorded (or someone else ended the
        dispatch). A worker told to hand its work back stops trying: recovery then ends the
        dispatch once it is past its timeout and grace."""
        attempt = 0
        while True:
            try:
                lifecycle.dispatch_finish(
                    dispatch,
                    status=result.status,
                    exit_code=result.exit_code,
                    error_message=result.error_message,
                    status_reason=result.status_reason,
                    run=dispatch.claimed_at,  # this run's outcome, never another's
                    tokens=outcome.tokens,  # what it cost: priced from its output...
                    resources=outcome.resources,  # ...and what it ran on
                )
                return
            except StoreError as exc:
                logger.warning(
                    "worker %s: could not record %s yet (%s); trying again",
                    self.worker_id,
                    dispatch.dispatch_id,
                    exc,
                )
                if self._aborting.wait(min(0.25 * 2**attempt, 15)):
                    raise
                attempt += 1

    def _free(self, slot: Slot) -> None:
        with self._lock:
            current = self._slots[slot.task_arn]
            try:
                self._slots[slot.task_arn] = pool.slot_release(
                    current, retiring=self._stopping.is_set()
                )
            except StoreError as exc:
                logger.warning(
                    "worker %s: could not release %s: %s", self.worker_id, slot.task_arn, exc
                )
            self._threads.pop(slot.task_arn, None)
        self._wake.set()

    # --- heartbeat and shutdown ----------------------------------------------------------

    def _heartbeat(self) -> None:
        every = settings.OUTPOST_WORKER_HEARTBEAT_SECONDS
        while not self._done.wait(every):
            with self._lock:
                try:
                    fresh = pool.slots_heartbeat(list(self._slots.values()))
                except StoreError as exc:
                    logger.warning("worker %s: heartbeat failed: %s", self.worker_id, exc)
                    continue
                self._slots.update((s.task_arn, s) for s in fresh)

    def _recover(self) -> None:
        """Recovery every `recover_every` seconds, by whichever worker holds the lease."""
        assert self.recover_every
        while not self._done.wait(self.recover_every):
            # A worker that follows the streams in its own thread does not read them twice.
            follow = not self.follow_every
            if reconcile.safe_sweep(holder=self.worker_id, follow=follow) is not None:
                self.sweeps += 1
        reconcile.step_down(holder=self.worker_id)

    def _follow(self) -> None:
        """The streams every `follow_every` seconds (more often than recovery, so the usage
        roll-ups and the queue on /fleet/ trail the dispatches by seconds)."""
        assert self.follow_every
        while not self._done.wait(self.follow_every):
            try:
                backfill.follow_streams(holder=self.worker_id, old_lease=reconcile.LEASE)
            except Exception:  # never let the thread die; the next pass tries again
                logger.exception("worker %s: following the streams failed", self.worker_id)

    def _deliver(self) -> None:
        """Webhook deliveries until the worker is done (webhooks/delivery.py)."""
        assert self.deliverer
        self.deliverer.run(self._done)

    def _bill(self) -> None:
        """The billing pass every `bill_every` seconds (billing/runner.py): Stripe is called
        here, never on a request path, so a Stripe outage never stops dispatching."""
        assert self.bill_every
        while not self._done.wait(self.bill_every):
            try:
                billing.billing_pass()
            except Exception:  # never let the thread die; what is due stays due
                logger.exception("worker %s: the billing pass failed", self.worker_id)

    def _drain(self) -> None:
        """Let running dispatches finish for a while, then hand back what is still running."""
        if not self._join(self.drain_seconds):
            logger.info("worker %s: handing back unfinished dispatches", self.worker_id)
            self._aborting.set()
            self._join(None)

    def _join(self, timeout: float | None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                threads = list(self._threads.values())
            if not threads:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            threads[0].join(timeout=left)

    def _retire(self) -> None:
        for slot in list(self._slots.values()):
            try:
                pool.slot_retire(slot)
            except StoreError as exc:
                logger.warning(
                    "worker %s: could not remove %s: %s", self.worker_id, slot.task_arn, exc
                )
