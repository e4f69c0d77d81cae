"""The district simulator (`hulin simulate`, `python -m sim`): a day of rangers, fires, pests, 四乱
and satellite hotspots played against a running Hulin over its public HTTP contract.

A load and demo tool only: it never imports a service and never touches a database or topic.
"""

from sim.cli import main

__all__ = ["main"]
