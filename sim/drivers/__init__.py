"""The two drivers of one kernel: the Mesa model (``model``, ``agents``; one world, step
by step) and the ensemble engine (``engine``; many replicates at once), with what they
share: the shock schedule they read and the records they produce."""
