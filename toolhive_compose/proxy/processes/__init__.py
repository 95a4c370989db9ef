"""Proxy processes: started, stopped and waited for (:mod:`.control`), forked from one
pre-loaded :mod:`.launcher`, recognised through ``/proc`` (:mod:`.procfs`), and asked whether
MCP answers through them (:mod:`.readiness`)."""
