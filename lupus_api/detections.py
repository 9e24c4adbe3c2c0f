"""Detection requests: a Dagster run of ``lupus_detection_request`` when ``LUPUS_DAGSTER_URL`` is set,
otherwise :func:`lupus_store.detection.detect_and_store` in a worker thread of the API.

Either way the request is a row in ``detection_requests`` whose id is returned (the Dagster run id,
or a local id) and whose status the API reports.

Example:
    >>> dagster_status("SUCCESS"), dagster_status("STARTED"), dagster_status("CANCELED")
    ('succeeded', 'running', 'failed')
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import or_, select, update

from lupus_store import MetricStore
from lupus_store.metadata import MetadataDB
from lupus_store.metadata.models import DetectionRequest, utcnow

log = logging.getLogger("lupus_api.detections")

# A running local request's process refreshes its claim every HEARTBEAT_SECONDS; a claim unrefreshed for
# CLAIM_LAPSE_SECONDS belongs to a dead process, and each worker looks for such requests every RECHECK_SECONDS.
HEARTBEAT_SECONDS = 15.0
CLAIM_LAPSE_SECONDS = 60.0
RECHECK_SECONDS = 30.0
JOB_NAME = "lupus_detection_request"  # the job in lupus_dagster.jobs.detection_request
_DAGSTER_STATUS = {
    "QUEUED": "queued", "NOT_STARTED": "queued", "STARTING": "queued", "MANAGED": "queued",
    "STARTED": "running", "CANCELING": "running",
    "SUCCESS": "succeeded", "FAILURE": "failed", "CANCELED": "failed",
}  # fmt: skip


def dagster_status(name: str) -> str:
    """The request status of a Dagster run status name."""
    return _DAGSTER_STATUS.get(name, "running")


class DagsterUnavailableError(Exception):
    """Dagster could not be reached or refused the run."""


class DetectionService:
    """Submits detection requests and reports their status."""

    def __init__(self, db: MetadataDB, store: MetricStore, dagster_url: str | None):
        self.db = db
        self.store = store
        self.dagster_url = dagster_url
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self.instance = uuid.uuid4().hex  # this process, as a claimant of local requests

    @property
    def backend(self) -> str:
        return "dagster" if self.dagster_url else "local"

    def start(self) -> None:
        """Start the local worker; it takes up local requests no live process has claimed.

        Every API process runs one worker. A request runs in the process whose claim on its row
        succeeds (a conditional update), and stays claimed while that process's heartbeat is fresh,
        so with ``--workers 2`` a request is not run twice; one whose process died is taken up again.
        """
        self._queue_unclaimed()
        self._thread = threading.Thread(target=self._run, name="lupus-detect", daemon=True)
        self._thread.start()

    def _queue_unclaimed(self) -> None:
        with self.db.session() as session:
            unfinished = session.scalars(
                select(DetectionRequest.id)
                .where(DetectionRequest.backend == "local", DetectionRequest.status.in_(("queued", "running")))
                .order_by(DetectionRequest.created_at)
            ).all()
        for request_id in unfinished:  # the claim decides who runs each
            self._queue.put(request_id)

    def stop(self, timeout: float = 10.0) -> None:
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, datasource: str, request: dict[str, Any], token_id: int | None) -> DetectionRequest:
        """Launch detection over ``request`` (start, end, rules, lookback_days); returns the stored row."""
        if self.dagster_url:
            run_id = self._submit_to_dagster(datasource, request)
            row = DetectionRequest(
                id=run_id, datasource=datasource, backend="dagster", status="queued", request=request, token_id=token_id
            )
        else:
            row = DetectionRequest(
                id=uuid.uuid4().hex,
                datasource=datasource,
                backend="local",
                status="queued",
                request=request,
                token_id=token_id,
            )
        with self.db.session() as session:
            session.add(row)
        if row.backend == "local":
            self._queue.put(row.id)
        return row

    def get(self, datasource: str, request_id: str) -> DetectionRequest | None:
        """The request with its current status (asks Dagster for runs not yet finished)."""
        with self.db.session() as session:
            row = session.get(DetectionRequest, request_id)
            if row is None or row.datasource != datasource:
                return None
            if row.backend == "dagster" and row.status in ("queued", "running"):
                status = dagster_status(self._client().get_run_status(row.id).value)
                if status != row.status:
                    row.status = status
                    if status in ("succeeded", "failed"):
                        row.finished_at = utcnow()
            return row

    def _client(self):
        from dagster_graphql import DagsterGraphQLClient

        url = urlparse(self.dagster_url or "")
        try:
            return DagsterGraphQLClient(
                url.hostname or "127.0.0.1",
                port_number=url.port,
                use_https=url.scheme == "https",
                path_prefix=url.path.rstrip("/"),
                timeout=30,
            )
        except Exception as err:
            raise DagsterUnavailableError(f"cannot reach Dagster at {self.dagster_url}: {err}") from err

    def _submit_to_dagster(self, datasource: str, request: dict[str, Any]) -> str:
        from dagster_graphql import DagsterGraphQLClientError

        run_config = {"ops": {"detection_request": {"config": {
            "datasource": datasource, "start": request["start"], "end": request["end"],
            "rules_json": json.dumps(request["rules"]), "lookback_days": request["lookback_days"],
        }}}}  # fmt: skip
        try:
            return self._client().submit_job_execution(
                JOB_NAME, run_config=run_config, tags={"lupus/datasource": datasource}
            )
        except DagsterGraphQLClientError as err:
            raise DagsterUnavailableError(f"Dagster refused the run: {err}") from err
        except Exception as err:  # connection errors come from requests/gql with many types
            raise DagsterUnavailableError(f"cannot reach Dagster at {self.dagster_url}: {err}") from err

    def _run(self) -> None:
        while True:
            try:
                request_id = self._queue.get(timeout=RECHECK_SECONDS)
            except queue.Empty:  # look for requests whose process died meanwhile
                try:
                    self._queue_unclaimed()
                except Exception:
                    log.exception("looking for unclaimed detection requests failed; retrying later")
                continue
            if request_id is None:
                return
            if not self.claim(request_id):
                continue  # finished, or another live process runs it
            heartbeat = threading.Event()
            beating = threading.Thread(target=self._beat, args=(request_id, heartbeat), daemon=True)
            beating.start()
            try:
                self._execute(request_id)
            except Exception as err:
                log.exception("detection request %s failed", request_id)
                self._finish(request_id, "failed", error=f"{type(err).__name__}: {err}")
            finally:
                heartbeat.set()
                beating.join()

    def claim(self, request_id: str) -> bool:
        """Take a local request for this process: True if it was queued, or running under a claim
        whose heartbeat lapsed (its process died). One process wins; the others get False."""
        now = utcnow()
        lapsed = now - timedelta(seconds=CLAIM_LAPSE_SECONDS)
        with self.db.session() as session:
            claimed = session.execute(
                update(DetectionRequest)
                .where(DetectionRequest.id == request_id, DetectionRequest.backend == "local",
                       or_(DetectionRequest.status == "queued",
                           (DetectionRequest.status == "running")
                           & or_(DetectionRequest.heartbeat_at.is_(None), DetectionRequest.heartbeat_at < lapsed)))
                .values(status="running", claimed_by=self.instance, heartbeat_at=now)
                .execution_options(synchronize_session=False)
            )  # fmt: skip
            return claimed.rowcount == 1

    def _beat(self, request_id: str, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                with self.db.session() as session:
                    session.execute(
                        update(DetectionRequest)
                        .where(DetectionRequest.id == request_id, DetectionRequest.claimed_by == self.instance)
                        .values(heartbeat_at=utcnow())
                    )
            except Exception:  # a missed beat only risks a second run, which writes the same records
                log.exception("heartbeat of detection request %s failed", request_id)

    def _execute(self, request_id: str) -> None:
        # Imported here: the detectors pull in SciPy and friends, seconds of start-up the push path never needs.
        from lupus_store.detection import detect_and_store

        with self.db.session() as session:
            row = session.get(DetectionRequest, request_id)
            datasource, request = row.datasource, dict(row.request)
        report = detect_and_store(
            self.store,
            datasource,
            request["rules"],
            start=request["start"],
            end=request["end"],
            writer=f"request-{request_id[:12]}",
            lookback_days=request["lookback_days"],
            run_id=request_id,
            workers=1,
        )
        result = {
            "evaluated": report.evaluated,
            "anomalies": report.anomalies,
            "by_metric": report.by_metric,
            "errors": report.errors[:100],
            "days_written": [d.isoformat() for d in report.days_written],
        }
        self._finish(request_id, "succeeded", result=result)

    def _finish(self, request_id: str, status: str, *, result: dict | None = None, error: str | None = None) -> None:
        with self.db.session() as session:
            session.execute(
                update(DetectionRequest)
                .where(DetectionRequest.id == request_id)
                .values(status=status, result=result, error=error, finished_at=utcnow())
            )
