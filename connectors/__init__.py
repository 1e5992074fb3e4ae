"""Connectors: fetch from a source (I/O), normalise (pure), store through data.store.

One package or module per source, each exposing the same three functions that the command
line and the app call:

- ``add_arguments(parser)``: the source's options on ``python -m connectors sync <source>``;
- ``run(args, settings, engine, progress) -> dict``: sync what the options name;
- ``sync_configured(settings, engine, progress, full=False) -> dict``: sync what
  ``readiness.toml`` names.

Both return the items written per resource. Failures raise ``net.http.SourceError``.
"""

SOURCE_MODULES = {
    "github": "connectors.github",
    "jira": "connectors.jira",
    "jenkins": "connectors.jenkins",
    "gitlab": "connectors.gitlab",
}
