"""The metadata database: datasources, teams, users, tokens, permissions, dashboards, alert state."""

from lupus_store.metadata.database import MetadataDB
from lupus_store.metadata.models import (
    AlertState,
    ApiToken,
    Base,
    Dashboard,
    DashboardChart,
    Datasource,
    DatasourcePermission,
    Membership,
    Team,
    UiSession,
    User,
)

__all__ = [
    "AlertState", "ApiToken", "Base", "Dashboard", "DashboardChart", "Datasource", "DatasourcePermission",
    "Membership", "MetadataDB", "Team", "UiSession", "User",
]  # fmt: skip
