"""Bearer-JWT authentication and unit-scope checks. The token names a person (`sub`); role and unit
always come from the org directory, never from the token, so a stale token cannot widen access.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from shared.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from shared.org import OrgDirectory, Person, Role
from shared.settings import Settings

ISSUER = "hulin"


@lru_cache(maxsize=8)
def _key_file(path: Path) -> str:
    """A PEM key, read once per process (not once per request)."""
    return path.read_text()


def _signing_key(settings: Settings) -> str:
    if settings.jwt_algorithm == "RS256":
        if settings.jwt_private_key_file is None:
            raise RuntimeError("HULIN_JWT_PRIVATE_KEY_FILE is needed to sign RS256 tokens")
        return _key_file(settings.jwt_private_key_file)
    return settings.jwt_secret.get_secret_value()


def _verifying_key(settings: Settings) -> str:
    if settings.jwt_algorithm == "RS256":
        assert settings.jwt_public_key_file is not None
        return _key_file(settings.jwt_public_key_file)
    return settings.jwt_secret.get_secret_value()


class RevokedTokens:
    """The ids (`jti`) of tokens revoked before they expire: one per line in
    `HULIN_JWT_REVOKED_FILE` (a ConfigMap in the cluster), re-read when the file changes."""

    def __init__(self) -> None:
        self._seen: tuple[Path, float] | None = None
        self._ids: frozenset[str] = frozenset()

    def ids(self, path: Path | None) -> frozenset[str]:
        if path is None:
            return frozenset()
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            return frozenset()
        if self._seen != (path, mtime):
            lines = path.read_text().splitlines()
            self._ids = frozenset(x.split("#")[0].strip() for x in lines) - {""}
            self._seen = (path, mtime)
        return self._ids


REVOKED = RevokedTokens()


def issue_token(person_id: str, settings: Settings, *, ttl_s: int | None = None) -> str:
    ttl = ttl_s or settings.jwt_ttl_s
    if ttl > settings.jwt_max_ttl_s:
        raise InvalidInput(
            f"a token lives at most {settings.jwt_max_ttl_s} s; asked for {ttl} s", field="ttl"
        )
    now = int(time.time())
    claims = {
        "sub": person_id,
        "iss": ISSUER,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, _signing_key(settings), algorithm=settings.jwt_algorithm)


def verified_claims(token: str, settings: Settings) -> dict[str, Any]:
    """A token's claims once its signature, times, audience and revocation are checked. A
    phone's clock may be a little off: `jwt_leeway_s` of slack on the times. The audience is
    checked whenever the token names one, and required in prod. What PyJWT found wrong is logged
    by nobody and told to nobody: the answer only says "invalid"."""
    required = ["sub", "exp"] + (["aud"] if settings.env == "prod" else [])
    try:
        claims = jwt.decode(
            token,
            _verifying_key(settings),
            algorithms=[settings.jwt_algorithm],
            issuer=ISSUER,
            audience=settings.jwt_audience,
            leeway=settings.jwt_leeway_s,
            options={"require": required, "verify_aud": False},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired", field="Authorization") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid token", field="Authorization") from exc
    audience = claims.get("aud")
    if audience is not None:
        named = [audience] if isinstance(audience, str) else list(audience)
        if settings.jwt_audience not in named:
            raise Unauthorized("invalid token", field="Authorization")
    jti = claims.get("jti")
    if jti is not None and str(jti) in REVOKED.ids(settings.jwt_revoked_file):
        raise Unauthorized("token revoked", field="Authorization")
    return claims


class VerifiedTokens:
    """Claims of tokens already verified, by the raw token, until the token expires: a flood of
    one token costs a dict lookup instead of a signature check. Revocation is looked up on every
    hit, so a token revoked after it was cached is refused at once. Bounded: the oldest go."""

    def __init__(self, settings: Settings, *, max_size: int = 10_000) -> None:
        self.settings = settings
        self.max_size = max_size
        self._claims: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    def claims(self, token: str) -> dict[str, Any]:
        """Like `verified_claims`, and raises the same `Unauthorized`."""
        settings = self.settings
        hit = self._claims.get(token)
        if hit is not None and hit[0] > time.time():
            jti = hit[1].get("jti")
            if jti is not None and str(jti) in REVOKED.ids(settings.jwt_revoked_file):
                del self._claims[token]
                raise Unauthorized("token revoked", field="Authorization")
            return hit[1]
        claims = verified_claims(token, settings)
        self._claims.pop(token, None)
        self._claims[token] = (float(claims["exp"]) + settings.jwt_leeway_s, claims)
        while len(self._claims) > self.max_size:
            self._claims.popitem(last=False)
        return claims


def cached_person(state: Any, token: str) -> Person | None:
    """The person a valid token names, for the middlewares that look before the routes (edge
    gates, audit): one `VerifiedTokens` per app (`state.verified_tokens`), so a request they
    both see is verified once. None for an invalid token: the route answers it as always."""
    tokens: VerifiedTokens | None = getattr(state, "verified_tokens", None)
    if tokens is None:
        tokens = state.verified_tokens = VerifiedTokens(state.settings)
    try:
        return person_named(tokens.claims(token), state.org)
    except Unauthorized:
        return None


def person_from_token(token: str, settings: Settings, org: OrgDirectory) -> Person:
    """The person a valid token names."""
    return person_named(verified_claims(token, settings), org)


def person_named(claims: dict[str, Any], org: OrgDirectory) -> Person:
    person = org.person(str(claims["sub"]))
    if person is None:
        raise Unauthorized("token names no person of the org directory", field="Authorization")
    return person


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def token_from_request(request: Request) -> str:
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("missing bearer token", field="Authorization")
    return token


async def current_person(request: Request) -> Person:
    """The caller, from the bearer token. `async` although it never awaits: FastAPI runs a plain
    `def` dependency in its thread pool, a thread hop per request for a few microseconds of
    work, which under load cost more latency than the whole handler."""
    settings: Settings = request.app.state.settings
    org: OrgDirectory = request.app.state.org
    return person_from_token(token_from_request(request), settings, org)


async def stream_person(request: Request) -> Person:
    """The caller of an event stream: EventSource (the console's live stream) cannot set headers,
    so a token in the query (`access_token`) is accepted here, and only here: a token in a URL
    ends up in logs and history, so no other route takes one."""
    settings: Settings = request.app.state.settings
    org: OrgDirectory = request.app.state.org
    token = bearer_token(request) or request.query_params.get("access_token")
    if not token:
        raise Unauthorized("missing bearer token", field="Authorization")
    claims = verified_claims(token, settings)
    # kept for the stream to end when the token does (`exp` is a required claim)
    request.state.token_expires_at = float(claims["exp"]) + settings.jwt_leeway_s
    return person_named(claims, org)


def token_expiry(request: Request) -> float | None:
    """When the token `stream_person` took expires (epoch seconds, leeway included); None on a
    request it did not authenticate."""
    expires: float | None = getattr(request.state, "token_expires_at", None)
    return expires


CurrentPerson = Annotated[Person, Depends(current_person)]
StreamPerson = Annotated[Person, Depends(stream_person)]


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
