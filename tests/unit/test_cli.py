"""The `hulin` command line: token, org people/units/validate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from shared.cli import SUBCOMMANDS, main
from shared.org import demo_org_path


@pytest.fixture(autouse=True)
def _demo_org(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HULIN_ORG_FILE", raising=False)
    monkeypatch.setenv("HULIN_ENV", "dev")  # the services default to prod


def _lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_org_people_lists_everyone_as_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["org", "people"]) == 0
    people = _lines(capsys.readouterr().out)
    assert len(people) == 58
    assert set(people[0]) == {"id", "name", "role", "unit", "phone"}


def test_org_people_filters_by_role_and_unit_subtree(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["org", "people", "--role", "ranger", "--unit", "500114001"]) == 0
    out = capsys.readouterr().out
    rangers = _lines(out)
    assert len(rangers) == 6
    assert all(p["role"] == "ranger" and str(p["unit"]).startswith("500114001") for p in rangers)
    assert "\\u" not in out  # Chinese names printed as such


def test_org_people_unknown_unit_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["org", "people", "--unit", "nope"]) == 2
    assert "unknown unit" in capsys.readouterr().err


def test_org_units_by_level(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["org", "units", "--level", "village"]) == 0
    villages = _lines(capsys.readouterr().out)
    assert len(villages) == 9
    v = villages[0]
    assert {"code", "name", "level", "parent", "point", "boundary"} <= set(v)
    assert v["level"] == "village"
    point = v["point"]
    assert isinstance(point, dict) and 29.3 < point["lat"] < 29.7 and 108.5 < point["lon"] < 109
    boundary = v["boundary"]
    assert isinstance(boundary, dict) and boundary["type"] == "Polygon"
    assert main(["org", "units"]) == 0
    assert len(_lines(capsys.readouterr().out)) == 13


def test_org_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["org", "validate", str(demo_org_path())]) == 0
    assert capsys.readouterr().out.strip() == "ok: 13 units, 58 people"


def test_org_validate_prints_every_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(demo_org_path().read_text(encoding="utf-8"))
    data["people"][0]["role"] = "king"
    data["people"][1]["unit"] = "404"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert main(["org", "validate", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("people[0] (dc-500114).role: unknown role 'king'")
    assert lines[1].startswith("people[1] (cc-500114-1).unit: unknown unit 404")


def test_a_bad_org_file_in_settings_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("units: [\n", encoding="utf-8")
    monkeypatch.setenv("HULIN_ORG_FILE", str(path))
    assert main(["org", "people"]) == 1
    assert "YAML syntax error" in capsys.readouterr().err


def test_token_for_unknown_person_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "nobody"]) == 2
    assert "unknown person" in capsys.readouterr().err


def test_token_names_the_person(capsys: pytest.CaptureFixture[str]) -> None:
    auth = pytest.importorskip("shared.auth")
    jwt = pytest.importorskip("jwt")
    from shared.settings import Settings

    assert main(["token", "vc-500114001001", "--ttl", "600"]) == 0
    token = capsys.readouterr().out.strip()
    settings = Settings()
    claims = jwt.decode(
        token,
        settings.jwt_secret.get_secret_value(),
        algorithms=[settings.jwt_algorithm],
        audience=settings.jwt_audience,
        options={"verify_iss": False},
    )
    assert claims["sub"] == "vc-500114001001"
    assert claims["exp"] - claims["iat"] == 600
    assert hasattr(auth, "issue_token")


def test_token_refuses_a_lifetime_past_the_cap(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "vc-500114001001", "--ttl", str(30 * 86400)]) == 2
    assert "at most 604800 s" in capsys.readouterr().err


def test_revoke_adds_the_id_of_a_whole_token_to_the_revocation_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import jwt

    revoked = tmp_path / "revoked"
    monkeypatch.setenv("HULIN_JWT_REVOKED_FILE", str(revoked))
    assert main(["token", "vc-500114001001"]) == 0
    token = capsys.readouterr().out.strip()
    jti = jwt.decode(token, options={"verify_signature": False})["jti"]
    assert main(["revoke", token]) == 0
    assert main(["revoke", "some-other-id"]) == 0
    assert revoked.read_text().split() == [jti, "some-other-id"]


def test_revoke_without_a_revocation_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["revoke", "abc"]) == 2
    assert "HULIN_JWT_REVOKED_FILE" in capsys.readouterr().err


def test_subcommand_table_has_token_and_org() -> None:
    assert {"token", "org"} <= set(SUBCOMMANDS)
