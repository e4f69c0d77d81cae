"""The org directory: who is who (people, roles) and where (district → township → village).

Loaded once per process from one YAML file and read-only afterwards; nothing here writes anywhere.
"""

from shared.org.loader import demo_org_path, load_org, parse_org, validate_org_file
from shared.org.models import (
    Level,
    OrgDirectory,
    OrgFault,
    OrgFileError,
    PatrolRule,
    Person,
    Role,
    Unit,
)

__all__ = [
    "Level",
    "OrgDirectory",
    "OrgFault",
    "OrgFileError",
    "PatrolRule",
    "Person",
    "Role",
    "Unit",
    "demo_org_path",
    "load_org",
    "parse_org",
    "validate_org_file",
]
