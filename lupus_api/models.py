"""Request and response bodies of the REST API (every endpoint has one)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from lupus_metrics.errors import LupusValidationError
from lupus_metrics.names import validate_account_name, validate_datasource
from lupus_metrics.schema import AnomalyRecord

Scope = Literal["read", "write", "admin"]


def _rule(check: Any) -> Any:
    """A pydantic after-validator applying one of :mod:`lupus_metrics.names`' rules (the message is the rule)."""

    def validate(value: Any) -> Any:
        try:
            return None if value is None else check(value)
        except LupusValidationError as err:
            raise ValueError(err.rule) from None

    return AfterValidator(validate)


DatasourceName = Annotated[str, _rule(validate_datasource)]
TeamName = Annotated[str, _rule(lambda v: validate_account_name(v, field="team"))]
TokenName = Annotated[str, _rule(lambda v: validate_account_name(v, field="name"))]
# SQLite hands back naive datetimes (written in UTC); answers always carry the zone.
Utc = Annotated[datetime, AfterValidator(lambda d: d if d.tzinfo else d.replace(tzinfo=UTC))]


class DatasourceCreate(BaseModel):
    """A new datasource and the team that owns it."""

    model_config = ConfigDict(extra="forbid")

    name: DatasourceName = Field(
        description="1-63 characters of a-z 0-9 - _, starting with a letter or digit.", max_length=63
    )
    owner_team: TeamName = Field(description="Name of the owning team.", max_length=100)
    description: str | None = Field(default=None, max_length=2000)


class DatasourceUpdate(BaseModel):
    """Fields to change; absent fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    owner_team: TeamName | None = Field(default=None, max_length=100, description="Hand the datasource to this team.")
    description: str | None = Field(default=None, max_length=2000)


class DatasourceOut(BaseModel):
    name: str
    owner_team: str
    description: str | None = None
    created_at: Utc
    access: list[Scope] = Field(description="What the calling token may do on this datasource.")


class DatasourceList(BaseModel):
    datasources: list[DatasourceOut]


class BatchAccepted(BaseModel):
    """A batch was staged durably; it will be in the store exactly once."""

    batch_id: str
    points: int
    status: Literal["staged", "ingested", "failed"]
    duplicate: bool = Field(description="True if this idempotency key was seen before: the original batch is returned.")
    status_url: str


class BatchStatus(BaseModel):
    batch_id: str
    datasource: str
    points: int
    status: Literal["staged", "ingested", "failed"]
    created_at: Utc
    ingested_at: Utc | None = None
    error: str | None = None


class PointOut(BaseModel):
    metric: str
    labels: dict[str, str]
    series_id: str
    ts: datetime
    value: float | None
    n: float | None = Field(default=None, description="Support behind the value (rows, users); null when unknown.")
    stderr: float | None = Field(default=None, description="Standard error of the value; null when unknown.")


class PointsPage(BaseModel):
    points: list[PointOut]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


class SeriesOut(BaseModel):
    series_id: str
    metric: str
    labels: dict[str, str]
    points: int
    first_ts: datetime | None
    last_ts: datetime | None


class SeriesPage(BaseModel):
    series: list[SeriesOut]
    next_cursor: str | None


class AnomaliesPage(BaseModel):
    anomalies: list[AnomalyRecord]
    next_cursor: str | None


class DetectionCreate(BaseModel):
    """Detect anomalies over ``start..end`` (inclusive days) with the given rules."""

    model_config = ConfigDict(extra="forbid")

    start: date
    end: date
    rules: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=100,
        description='Detector rules, e.g. [{"metrics": ["rows.count"], "detector": {"kind": "window", "window": 14}}].',
    )
    lookback_days: int = Field(
        default=120, ge=0, le=3650, description="Days of history before `start` fed to detectors."
    )


class DetectionOut(BaseModel):
    id: str = Field(description="The Dagster run id, or a local request id.")
    datasource: str
    backend: Literal["dagster", "local"]
    status: Literal["queued", "running", "succeeded", "failed"]
    created_at: Utc
    finished_at: Utc | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
    status_url: str


class TokenCreate(BaseModel):
    """A new API token; bind it to a team or a datasource (only admin tokens may be unbound)."""

    model_config = ConfigDict(extra="forbid")

    name: TokenName = Field(min_length=1, max_length=100)
    scopes: list[Scope] = Field(min_length=1)
    team: TeamName | None = Field(default=None, min_length=1, max_length=100)
    datasource: DatasourceName | None = Field(default=None, min_length=1, max_length=63)
    expires_at: datetime | None = None


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    team: str | None
    datasource: str | None
    created_at: Utc
    expires_at: Utc | None
    revoked_at: Utc | None
    last_used_at: Utc | None


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself: shown once, only its hash is kept.")


class TokenList(BaseModel):
    tokens: list[TokenOut]


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]
