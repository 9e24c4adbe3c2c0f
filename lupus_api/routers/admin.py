"""Token administration: issue, list, revoke (admin tokens; a bound admin token manages its own binding)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status
from sqlalchemy import or_, select

from lupus_api.auth import Principal, require_admin
from lupus_api.models import TokenCreate, TokenCreated, TokenList, TokenOut
from lupus_api.problems import Problem, ProblemError
from lupus_api.state import ApiState, api_state
from lupus_metrics.errors import LupusValidationError
from lupus_store.metadata import ApiToken, Datasource, Team
from lupus_store.metadata.models import utcnow
from lupus_store.metadata.tokens import issue_token

router = APIRouter(prefix="/admin/tokens", tags=["admin"], responses={401: {"model": Problem}, 403: {"model": Problem}})


def _out(row: ApiToken) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.token_prefix,
        "scopes": sorted(row.scope_set),
        "team": row.team.name if row.team else None,
        "datasource": row.datasource.name if row.datasource else None,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "revoked_at": row.revoked_at,
        "last_used_at": row.last_used_at,
    }


def _managed(principal: Principal):
    """SQL condition: the tokens ``principal`` may manage."""
    if principal.global_admin:
        return True
    if principal.datasource_id is not None:
        return ApiToken.datasource_id == principal.datasource_id
    owned = select(Datasource.id).where(Datasource.owner_team_id == principal.team_id)
    return or_(ApiToken.team_id == principal.team_id, ApiToken.datasource_id.in_(owned))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenCreated,
    responses={422: {"model": Problem}},
    summary="Issue a token (the clear token is in this response only)",
)
def create_token(
    body: TokenCreate,
    principal: Annotated[Principal, Depends(require_admin)],
    state: Annotated[ApiState, Depends(api_state)],
) -> TokenCreated:
    if body.team is None and body.datasource is None and set(body.scopes) != {"admin"}:
        raise ProblemError(
            422, "a token bound to no team or datasource must have exactly the admin scope", field="scopes"
        )
    with state.db.session() as session:
        team = session.scalar(select(Team).where(Team.name == body.team)) if body.team else None
        ds = session.scalar(select(Datasource).where(Datasource.name == body.datasource)) if body.datasource else None
        if body.team and team is None:
            raise ProblemError(422, f"no team named {body.team!r}", field="team")
        if body.datasource and ds is None:
            raise ProblemError(422, f"no datasource named {body.datasource!r}", field="datasource")
        allowed = (
            principal.global_admin
            or (
                principal.datasource_id is not None
                and ds is not None
                and ds.id == principal.datasource_id
                and team is None
            )
            or (
                principal.team_id is not None
                and (
                    (team is not None and team.id == principal.team_id and ds is None)
                    or (ds is not None and ds.owner_team_id == principal.team_id and team is None)
                )
            )
        )
    if not allowed:
        raise ProblemError(403, "this token may only issue tokens bound to its own team or datasource", field="team")
    try:
        issued = issue_token(
            state.db,
            name=body.name,
            scopes=body.scopes,
            team=body.team,
            datasource=body.datasource,
            expires_at=body.expires_at,
        )
    except LupusValidationError as err:
        raise ProblemError(422, str(err), field=err.where) from None
    with state.db.session() as session:
        row = session.get(ApiToken, issued.id)
        return TokenCreated(token=issued.token, **_out(row))


@router.get("", response_model=TokenList, summary="Tokens this admin token manages (hashes never leave the server)")
def list_tokens(
    principal: Annotated[Principal, Depends(require_admin)],
    state: Annotated[ApiState, Depends(api_state)],
) -> TokenList:
    with state.db.session() as session:
        rows = session.scalars(select(ApiToken).where(_managed(principal)).order_by(ApiToken.id.desc()))
        return TokenList(tokens=[TokenOut(**_out(row)) for row in rows])


@router.delete("/{token_id}", response_model=TokenOut, responses={404: {"model": Problem}}, summary="Revoke a token")
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    principal: Annotated[Principal, Depends(require_admin)],
    state: Annotated[ApiState, Depends(api_state)],
) -> TokenOut:
    with state.db.session() as session:
        # One look-up, one answer: a token of another team is as unknown to the caller as a free id,
        # so revoking cannot be used to learn which ids exist.
        row = session.scalar(select(ApiToken).where(ApiToken.id == token_id, _managed(principal)))
        if row is None:
            raise ProblemError(404, f"no token {token_id} among the tokens this token manages", field="token_id")
        row.revoked_at = row.revoked_at or utcnow()
        session.flush()
        return TokenOut(**_out(row))
