"""Bearer-JWT authentication and unit-scope checks. The token names a person (`sub`); role and unit
always come from the org directory, never from the token, so a stale token cannot widen access.
"""

from __future__ import annotations

import time
from typing import Annotated

import jwt
from fastapi import Depends, Request

from shared.errors import Forbidden, NotFound, Unauthorized
from shared.org import OrgDirectory, Person, Role
from shared.settings import Settings

ISSUER = "hulin"


def _signing_key(settings: Settings) -> str:
    if settings.jwt_algorithm == "RS256":
        if settings.jwt_private_key_file is None:
            raise RuntimeError("HULIN_JWT_PRIVATE_KEY_FILE is needed to sign RS256 tokens")
        return settings.jwt_private_key_file.read_text()
    return settings.jwt_secret.get_secret_value()


def _verifying_key(settings: Settings) -> str:
    if settings.jwt_algorithm == "RS256":
        assert settings.jwt_public_key_file is not None
        return settings.jwt_public_key_file.read_text()
    return settings.jwt_secret.get_secret_value()


def issue_token(person_id: str, settings: Settings, *, ttl_s: int | None = None) -> str:
    now = int(time.time())
    claims = {
        "sub": person_id,
        "iss": ISSUER,
        "iat": now,
        "exp": now + (ttl_s or settings.jwt_ttl_s),
    }
    return jwt.encode(claims, _signing_key(settings), algorithm=settings.jwt_algorithm)


def person_from_token(token: str, settings: Settings, org: OrgDirectory) -> Person:
    try:
        claims = jwt.decode(
            token,
            _verifying_key(settings),
            algorithms=[settings.jwt_algorithm],
            issuer=ISSUER,
            options={"require": ["sub", "exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired", field="Authorization") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}", field="Authorization") from exc
    person = org.person(str(claims["sub"]))
    if person is None:
        raise Unauthorized("token names no person of the org directory", field="Authorization")
    return person


def token_from_request(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    # EventSource (the console's live stream) cannot set headers: a token in the query is
    # accepted for GET requests only.
    if request.method == "GET" and request.query_params.get("access_token"):
        return request.query_params["access_token"]
    raise Unauthorized("missing bearer token", field="Authorization")


async def current_person(request: Request) -> Person:
    """The caller, from the bearer token. `async` although it never awaits: FastAPI runs a plain
    `def` dependency in its thread pool, a thread hop per request for a few microseconds of
    work, which under load cost more latency than the whole handler."""
    settings: Settings = request.app.state.settings
    org: OrgDirectory = request.app.state.org
    return person_from_token(token_from_request(request), settings, org)


CurrentPerson = Annotated[Person, Depends(current_person)]


def in_scope(org: OrgDirectory, person: Person, unit_code: str) -> bool:
    """A person sees what lies in their unit's subtree (public: nothing by unit)."""
    if person.role == Role.PUBLIC:
        return False
    try:
        return org.in_subtree(person.unit, unit_code)
    except KeyError:
        return False


def require_in_scope(org: OrgDirectory, person: Person, unit_code: str, what: str) -> None:
    """Outside one's scope the answer is 404, as if the thing were absent."""
    if not in_scope(org, person, unit_code):
        raise NotFound(f"{what} not found")


def require_role(person: Person, *roles: Role, action: str) -> None:
    if person.role not in roles:
        allowed = ", ".join(r.value for r in roles)
        raise Forbidden(f"{action} is for {allowed}; you are {person.role.value}", field="role")
