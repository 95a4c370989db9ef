"""Plans for review: saved plans that refuse to go stale, and plans made without the machine.

:mod:`.saved` is a saved plan (``thv plan -o``) and what it was made from; :mod:`.stale` says
what moved since (pure); :mod:`.inputs` digests the files a plan was made from;
:mod:`.fingerprint` the observed state it was made against (pure); :mod:`.snapshot` is the
observed state exported for planning elsewhere (``thv state export`` / ``thv plan
--observed``); :mod:`.files` the on-disk envelope both files share (kind, format version,
digest, mode 0600).  Risk classes are the planner's (:mod:`toolhive_compose.plan.risk`).
"""
