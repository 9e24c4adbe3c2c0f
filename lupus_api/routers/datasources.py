"""Datasources: create, list, get, change ownership."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lupus_api.auth import (
    DatasourceAccess,
    Principal,
    allowed_operations,
    binding_level,
    current_token,
    datasource_access,
    require_admin,
)
from lupus_api.models import DatasourceCreate, DatasourceList, DatasourceOut, DatasourceUpdate
from lupus_api.problems import ProblemError
from lupus_api.state import ApiState, api_state
from lupus_store.metadata import Datasource, Team

router = APIRouter(prefix="/datasources", tags=["datasources"])
ORDER = ("read", "write", "admin")


def _out(row: Datasource, team_name: str, ops: set[str] | frozenset[str]) -> DatasourceOut:
    return DatasourceOut(
        name=row.name,
        owner_team=team_name,
        description=row.description,
        created_at=row.created_at,
        access=[op for op in ORDER if op in ops],
    )


def _team(session, name: str) -> Team:
    team = session.scalar(select(Team).where(Team.name == name))
    if team is None:
        raise ProblemError(422, f"no team named {name!r}", field="owner_team")
    return team


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DatasourceOut,
    summary="Create a datasource (admin token; a team-bound token creates it for its own team)",
)
def create_datasource(
    body: DatasourceCreate,
    principal: Annotated[Principal, Depends(require_admin)],
    state: Annotated[ApiState, Depends(api_state)],
) -> DatasourceOut:
    try:
        with state.db.session() as session:
            team = _team(session, body.owner_team)
            if principal.datasource_id is not None or (principal.team_id is not None and principal.team_id != team.id):
                raise ProblemError(
                    403, "this token may only create datasources owned by its own team", field="owner_team"
                )
            if session.scalar(select(Datasource.id).where(Datasource.name == body.name)) is not None:
                raise ProblemError(409, f"datasource {body.name!r} already exists", field="name")
            row = Datasource(name=body.name, owner_team_id=team.id, description=body.description)
            session.add(row)
            session.flush()
            return _out(row, team.name, {"read", "write", "admin"})
    except IntegrityError:
        raise ProblemError(409, f"datasource {body.name!r} already exists", field="name") from None


@router.get("", response_model=DatasourceList, summary="Datasources the token may access")
def list_datasources(
    principal: Annotated[Principal, Depends(current_token)],
    state: Annotated[ApiState, Depends(api_state)],
) -> DatasourceList:
    out = []
    with state.db.session() as session:
        for row in session.scalars(select(Datasource).order_by(Datasource.name)):
            ops = allowed_operations(principal.scopes, binding_level(session, principal, row))
            if ops:
                out.append(_out(row, row.owner_team.name, ops))
    return DatasourceList(datasources=out)


@router.get("/{ds}", response_model=DatasourceOut, summary="One datasource")
def get_datasource(
    access: Annotated[DatasourceAccess, Depends(datasource_access("any"))],
    state: Annotated[ApiState, Depends(api_state)],
) -> DatasourceOut:
    with state.db.session() as session:
        row = session.get(Datasource, access.datasource.id)
        return _out(row, row.owner_team.name, access.operations)


@router.patch(
    "/{ds}", response_model=DatasourceOut, summary="Change the owner team or description (admin on the datasource)"
)
def update_datasource(
    body: DatasourceUpdate,
    access: Annotated[DatasourceAccess, Depends(datasource_access("admin"))],
    state: Annotated[ApiState, Depends(api_state)],
) -> DatasourceOut:
    with state.db.session() as session:
        row = session.get(Datasource, access.datasource.id)
        if body.owner_team is not None:
            row.owner_team_id = _team(session, body.owner_team).id
        if body.description is not None:
            row.description = body.description
        session.flush()
        session.refresh(row)
        ops = allowed_operations(access.principal.scopes, binding_level(session, access.principal, row))
        return _out(row, row.owner_team.name, ops)
