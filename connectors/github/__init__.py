"""GitHub connector: issues, pull requests, milestones, releases, Actions runs and their JUnit
artifacts, deployments — incremental and rate-limit safe.

Modules: ``client`` (session and GitHub's rate-limit rules), ``fetch`` (page generators),
``normalize`` (pure raw → domain rows), ``sync`` (per-repository orchestration), ``artifacts``
(JUnit zips), ``cli`` (the command line).
"""

from .cli import add_arguments, run, sync_configured

__all__ = ["add_arguments", "run", "sync_configured"]
