"""Hulin's thresholds (merging, escalation, fire bans, pest loop, patrol, reports) from one file.

Loaded once per process and read-only; code never hard-codes a number that lives here.
"""

from shared.policy.loader import PolicyFileError, default_policy_path, load_policy, parse_policy
from shared.policy.models import (
    Escalation,
    FireBan,
    FireBanKind,
    FireStart,
    MergeWindow,
    Merging,
    PatrolPolicy,
    PestLoop,
    PestStep,
    Policy,
    Reescalation,
    ReportsPolicy,
    SisluanStart,
    StartLevels,
)

__all__ = [
    "Escalation",
    "FireBan",
    "FireBanKind",
    "FireStart",
    "MergeWindow",
    "Merging",
    "PatrolPolicy",
    "PestLoop",
    "PestStep",
    "Policy",
    "PolicyFileError",
    "Reescalation",
    "ReportsPolicy",
    "SisluanStart",
    "StartLevels",
    "default_policy_path",
    "load_policy",
    "parse_policy",
]
