"""Bearer tokens (issue 16, finding 11 and 12): clock slack for phones, audience, revocation by id,
a capped lifetime, keys read once, PyJWT's findings kept to ourselves, and a token in the query
taken by the event stream only."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI

from shared.auth import CurrentPerson, StreamPerson, issue_token, person_from_token
from shared.errors import InvalidInput, Unauthorized
from shared.http import install_common
from shared.org import load_org
from shared.settings import DEV_JWT_SECRET, Settings

ORG = load_org(None)
PERSON = "vc-500114001001"


def signed(claims: dict[str, object], settings: Settings) -> str:
    base: dict[str, object] = {"sub": PERSON, "iss": "hulin", "exp": int(time.time()) + 600}
    return jwt.encode(base | claims, DEV_JWT_SECRET, algorithm=settings.jwt_algorithm)


def refusal(token: str, settings: Settings) -> str:
    with pytest.raises(Unauthorized) as caught:
        person_from_token(token, settings, ORG)
    return caught.value.message


def test_a_token_expired_within_the_leeway_is_still_taken() -> None:
    settings = Settings(jwt_leeway_s=60)
    token = signed({"exp": int(time.time()) - 30}, settings)
    assert person_from_token(token, settings, ORG).id == PERSON


def test_a_token_expired_past_the_leeway_is_refused_as_expired() -> None:
    settings = Settings(jwt_leeway_s=60)
    assert refusal(signed({"exp": int(time.time()) - 120}, settings), settings) == "token expired"


def test_a_token_of_another_audience_is_refused() -> None:
    settings = Settings()
    assert refusal(signed({"aud": "some-other-system"}, settings), settings) == "invalid token"
    assert person_from_token(signed({"aud": "hulin"}, settings), settings, ORG).id == PERSON


def test_prod_requires_the_audience() -> None:
    prod = Settings(env="prod", jwt_secret="s" * 40)
    no_aud = jwt.encode(
        {"sub": PERSON, "iss": "hulin", "exp": int(time.time()) + 600}, "s" * 40, "HS256"
    )
    assert refusal(no_aud, prod) == "invalid token"
    assert person_from_token(issue_token(PERSON, prod), prod, ORG).id == PERSON


def test_what_pyjwt_found_wrong_is_not_echoed() -> None:
    settings = Settings()
    token = issue_token(PERSON, settings)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert refusal(tampered, settings) == "invalid token"
    assert refusal("not-a-token", settings) == "invalid token"


def test_a_revoked_token_is_refused_as_soon_as_the_file_names_it(tmp_path: Path) -> None:
    revoked = tmp_path / "revoked"
    settings = Settings(jwt_revoked_file=revoked)
    token = issue_token(PERSON, settings)
    other = issue_token(PERSON, settings)
    assert person_from_token(token, settings, ORG).id == PERSON  # no file yet: nothing revoked
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    revoked.write_text(f"# revoked on 2026-12-03: phone lost\n{jti}\n")
    assert refusal(token, settings) == "token revoked"
    assert person_from_token(other, settings, ORG).id == PERSON


def test_every_token_carries_its_own_id() -> None:
    settings = Settings()
    ids = {
        jwt.decode(issue_token(PERSON, settings), options={"verify_signature": False})["jti"]
        for _ in range(3)
    }
    assert len(ids) == 3


def test_a_lifetime_past_the_cap_is_refused_naming_ttl() -> None:
    settings = Settings(jwt_max_ttl_s=3600)
    with pytest.raises(InvalidInput) as caught:
        issue_token(PERSON, settings, ttl_s=3601)
    assert caught.value.field == "ttl"
    issue_token(PERSON, settings, ttl_s=3600)


def test_the_public_key_is_read_once(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private, public = tmp_path / "private.pem", tmp_path / "public.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    settings = Settings(
        jwt_algorithm="RS256", jwt_private_key_file=private, jwt_public_key_file=public
    )
    token = issue_token(PERSON, settings)
    assert person_from_token(token, settings, ORG).id == PERSON
    public.unlink()  # a second request does not go back to the file
    assert person_from_token(token, settings, ORG).id == PERSON
def app() -> FastAPI:
    app = FastAPI()
    app.state.settings = Settings()
    app.state.org = ORG
    install_common(app, "test")

    @app.get("/v1/page")
    async def page(person: CurrentPerson) -> dict[str, str]:
        return {"id": person.id}

    @app.get("/v1/stream")
    async def stream(person: StreamPerson) -> dict[str, str]:
        return {"id": person.id}

    return app


async def test_a_token_in_the_query_is_taken_by_the_stream_only() -> None:
    token = issue_token(PERSON, Settings())
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/v1/stream", params={"access_token": token})).status_code == 200
        assert (await http.get("/v1/page", params={"access_token": token})).status_code == 401
        bearer = {"Authorization": f"Bearer {token}"}
        assert (await http.get("/v1/page", headers=bearer)).status_code == 200
        assert (await http.get("/v1/stream", headers=bearer)).status_code == 200
