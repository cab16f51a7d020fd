"""Questions asked of runs: why a state moved (``explain``) and whether a scenario's
stylised facts hold over many seeds (``facts``)."""
