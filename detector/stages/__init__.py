"""The three stages as pure state machines over batches, and the versioned records between them.

:mod:`.ingest` (raw messages in any input format -> feature rows by key partition, dead letters),
:mod:`.keyed_windows` (feature rows -> closed epochs' summaries), :mod:`.epoch_scorer` (epoch
barrier, labels, profiles -> alerts and decisions), :mod:`.profiles` (account-profile messages ->
scorer input) and :mod:`.records` (the messages between them). No I/O: live
(:mod:`streams.app`, :mod:`streams.runner`) and the tests wire them; each stateful stage returns a
checkpoint and rebuilds from it.
"""
