"""Registry upgrades of running workloads: :mod:`.check` compares a workload with its registry
entry (offline), :mod:`.execute` pulls and verifies the new image, then recreates it."""
