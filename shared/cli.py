"""The `hulin` command line: tokens for people of the org directory, and org listings/validation.

A thin shell over shared/: parse arguments, call a library function, print. No business rules here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError

from shared.org import Level, OrgDirectory, OrgFileError, Role, Unit, load_org, validate_org_file
from shared.settings import Settings

# A handler gets the parsed arguments and the settings, and returns the exit code.
Handler = Callable[[argparse.Namespace, Settings], int]
Registrar = Callable[[Any], None]


def _print_json(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, ensure_ascii=False))


def _fail(message: str, code: int = 2) -> int:
    print(f"hulin: {message}", file=sys.stderr)
    return code


def _org(settings: Settings) -> OrgDirectory:
    return load_org(settings.org_file)


# --- hulin token ---------------------------------------------------------------------------------


def _token(args: argparse.Namespace, settings: Settings) -> int:
    org = _org(settings)
    if org.person(args.person_id) is None:
        return _fail(f"unknown person {args.person_id!r} (see `hulin org people`)")
    from shared.auth import issue_token  # imported late: only this command needs JWT signing
    from shared.errors import InvalidInput

    try:
        print(issue_token(args.person_id, settings, ttl_s=args.ttl))
    except InvalidInput as exc:
        return _fail(exc.message)
    return 0


def _add_token(sub: Any) -> None:
    p = sub.add_parser("token", help="print a bearer token (JWT) for a person of the org directory")
    p.add_argument("person_id", help="a person id, e.g. vc-500114001001")
    p.add_argument(
        "--ttl", type=int, default=None, help="lifetime in seconds (default and cap: settings)"
    )
    p.set_defaults(handler=_token)


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    """Add a token's id to the revocation file every service reads (`HULIN_JWT_REVOKED_FILE`)."""
    import jwt

    if settings.jwt_revoked_file is None:
        return _fail("set HULIN_JWT_REVOKED_FILE to the file the services read")
    jti = args.token
    if jti.count(".") == 2:  # a whole token: take its id (no need to trust it to revoke it)
        try:
            jti = str(jwt.decode(jti, options={"verify_signature": False})["jti"])
        except (jwt.PyJWTError, KeyError):
            return _fail("that token carries no id (jti) to revoke")
    with settings.jwt_revoked_file.open("a") as out:
        out.write(f"{jti}\n")
    print(f"revoked {jti}")
    return 0


def _add_revoke(sub: Any) -> None:
    p = sub.add_parser("revoke", help="revoke a token (its id, or the whole token) early")
    p.add_argument("token", help="the token, or its id (jti)")
    p.set_defaults(handler=_revoke)


# --- hulin org -----------------------------------------------------------------------------------


def _org_people(args: argparse.Namespace, settings: Settings) -> int:
    org = _org(settings)
    if args.unit is not None and args.unit not in org.units:
        return _fail(f"unknown unit {args.unit!r}")
    for person in org.people.values():
        if args.role is not None and person.role != args.role:
            continue
        if args.unit is not None and not org.in_subtree(args.unit, person.unit):
            continue
        _print_json(person.model_dump(mode="json"))
    return 0


def _unit_json(unit: Unit) -> dict[str, Any]:
    lat, lon = unit.point
    return {
        "code": unit.code,
        "name": unit.name,
        "name_en": unit.name_en,
        "level": unit.level.value,
        "parent": unit.parent,
        "point": {"lat": lat, "lon": lon},
        "boundary": unit.boundary_geojson(),
    }


def _org_units(args: argparse.Namespace, settings: Settings) -> int:
    org = _org(settings)
    for unit in org.descendants(org.district.code):
        if args.level is None or unit.level == args.level:
            _print_json(_unit_json(unit))
    return 0


def _org_validate(args: argparse.Namespace, settings: Settings) -> int:
    faults = validate_org_file(args.file)
    if faults:
        for fault in faults:
            print(f"{fault.location}: {fault.message}")
        return 1
    org = load_org(args.file)
    print(f"ok: {len(org.units)} units, {len(org.people)} people")
    return 0


def _add_org(sub: Any) -> None:
    org = sub.add_parser("org", help="the org directory (HULIN_ORG_FILE, default: the demo)")
    org_sub = org.add_subparsers(dest="org_command", required=True, metavar="COMMAND")

    people = org_sub.add_parser("people", help="people as JSON lines")
    people.add_argument("--role", choices=[r.value for r in Role], help="only this role")
    people.add_argument("--unit", help="only people of this unit's subtree")
    people.set_defaults(handler=_org_people)

    units = org_sub.add_parser("units", help="units as JSON lines (with point and boundary)")
    units.add_argument("--level", choices=[lv.value for lv in Level], help="only this level")
    units.set_defaults(handler=_org_units)

    validate = org_sub.add_parser("validate", help="check an org file; list every fault")
    validate.add_argument("file", help="the org YAML file")
    validate.set_defaults(handler=_org_validate)


# --- the command table ---------------------------------------------------------------------------

# Each entry adds one top-level subcommand (its parser sets `handler`). Add new ones here, e.g.
# "topics" and "simulate".

# --- hulin topics / up-summary / simulate ------------------------------------------------------


def _topics_create(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from shared.kafka.admin import ensure_topics

    created = asyncio.run(ensure_topics(settings, replication_factor=args.replication_factor))
    for name in created:
        print(f"created topic {name}")
    return 0


def _add_topics(sub: Any) -> None:
    p = sub.add_parser("topics", help="Kafka topics of the partition plan")
    tsub = p.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    c = tsub.add_parser("create", help="create missing topics (idempotent)")
    c.add_argument("--replication-factor", type=int, default=1)
    c.set_defaults(handler=_topics_create)


def _up_summary(args: argparse.Namespace, settings: Settings) -> int:
    """What `make up` prints at the end: where everything is, and how to get in."""
    import os

    from shared.auth import issue_token

    ports = {
        name: os.environ.get(f"HULIN_{name.upper()}_PORT", default)
        for name, default in (("patrol", "8001"), ("incidents", "8002"), ("notify", "8003"))
    }
    org = _org(settings)
    cc = next(iter(org.people_in(org.district.code, Role.COMMAND_CENTER)), None)
    print("Hulin is up.")
    for name, port in ports.items():
        print(f"  {name:<10} http://127.0.0.1:{port}/docs")
    print(f"  console    http://127.0.0.1:{ports['notify']}/console")
    print(
        f"  district   {org.district.name} ({org.district.code}): "
        f"{len(org.units)} units, {len(org.people)} people"
    )
    if cc is not None and settings.env == "dev":
        print(f"  a command-center token ({cc.name}, {cc.id}):")
        print(f"    {issue_token(cc.id, settings)}")
    print("  stop with `make down` (data is kept)")
    return 0


def _add_up_summary(sub: Any) -> None:
    p = sub.add_parser("up-summary", help="print the URLs of a running system")
    p.set_defaults(handler=_up_summary)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    import sim

    return int(sim.main(args.sim_args) or 0)


def _add_simulate(sub: Any) -> None:
    p = sub.add_parser(
        "simulate", help="a district day against a running system (see sim/)", add_help=False
    )
    p.add_argument("sim_args", nargs=argparse.REMAINDER)
    p.set_defaults(handler=_simulate)


SUBCOMMANDS: dict[str, Registrar] = {
    "token": _add_token,
    "revoke": _add_revoke,
    "org": _add_org,
    "topics": _add_topics,
    "up-summary": _add_up_summary,
    "simulate": _add_simulate,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hulin", description="Hulin (护林) command line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in SUBCOMMANDS.values():
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        return _fail(f"bad settings: {exc}")
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except OrgFileError as exc:
        return _fail(str(exc), 1)


if __name__ == "__main__":
    raise SystemExit(main())
