"""The Kubernetes target: a workloads file as the ToolHive operator's custom resources.

:mod:`.objects` renders a desired state (pure), :mod:`.servers` maps one server's fields,
:mod:`.names` and :mod:`.secret_refs` say which names objects and Secrets get,
:mod:`.remote_url` which remote URLs the operator takes, :mod:`.manifest` writes the objects
as YAML, and :mod:`.validation` checks them against the schema we wrote from the operator's
CRDs (``schemas/``).
"""
