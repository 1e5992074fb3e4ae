"""GitLab connector (gitlab.com and self-managed): issues, merge requests, milestones,
iterations, releases, pipelines with their test reports, deployments and incidents.

``python -m connectors sync gitlab --url https://gitlab.example.com --project group/sub/project``
with ``GITLAB_TOKEN`` in the environment (sent as ``PRIVATE-TOKEN``). Modules: ``client``
(auth, rate limits), ``fetch`` (endpoints, paging), ``normalize`` (pure payload → rows),
``sync`` (per-project orchestration), ``cli`` (the command line).
"""

from .cli import add_arguments, run, sync_configured

__all__ = ["add_arguments", "run", "sync_configured"]
