"""Jenkins connector: builds as pipeline runs, their JUnit reports as test results, builds of
deploy jobs as deployments — incremental, with running builds fetched again until they end.

Modules: ``fetch`` (session and requests), ``normalize`` (pure JSON → rows, and the mapping
decisions), ``sync`` (per-job orchestration and cursors), ``cli`` (the command line).
Auth: ``JENKINS_USER`` + ``JENKINS_TOKEN`` (basic), from the environment or
``.streamlit/secrets.toml``.
"""

from .cli import add_arguments, run, sync_configured

__all__ = ["add_arguments", "run", "sync_configured"]
