"""The Kubernetes target: a workloads file as the ToolHive operator's custom resources.

:mod:`.objects` renders a desired state (pure), :mod:`.servers` maps one server's fields,
:mod:`.names` and :mod:`.secret_refs` say which names objects and Secrets get,
:mod:`.remote_url` which remote URLs the operator takes, and :mod:`.manifest` writes the
objects as YAML.  The tests check every rendered object against a schema written from the
operator's CRDs (``tests/support/schemas/operator-v1beta1.schema.json``).
"""
