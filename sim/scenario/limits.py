"""Input limits: the largest scenario and experiment files Multivector will read.

Every limit here is checked while a file is read or validated, so ``multivector check``
reports a breach like any other problem (``FILE:LINE: field PATH: what was expected``,
exit code 2). The limits exist so that a broken or hostile file ends with that message,
never with a crash, a hang, exhausted memory or NaN results. Each is far above what the
shipped scenarios need (their figure is in brackets).

Where each limit is enforced:

- reading a file (:func:`sim.scenario.documents.read_yaml`, scenario and experiment files
  alike): :data:`MAX_FILE_BYTES`, :data:`MAX_YAML_NODES`, :data:`MAX_YAML_ALIASES`,
  :data:`MAX_YAML_DEPTH`, :data:`MAX_INTEGER`, finite numbers, standard YAML tags only;
- ``extends`` (:mod:`sim.scenario.extends`): :data:`MAX_EXTENDS_CHAIN`,
  :data:`MAX_FILE_NAME_CHARS`, and the folder a chain must stay in;
- the schema (:mod:`sim.scenario.schema`): :data:`DATE_MIN`/:data:`DATE_MAX` for every
  date, :data:`MAX_PERIODS` for ``steps``, ``duration`` and ``max_fires``;
- the checks (:mod:`sim.scenario.checks`): :data:`MAX_PERIODS` for the horizon,
  :data:`MAX_STATES`, :data:`MAX_SHOCKS`, :data:`MAX_SHOCK_FIRINGS`,
  :data:`MAX_MAGNITUDE` for effect operands, and ``power`` within
  ``(MIN_POWER, MAX_POWER)`` (in :data:`~sim.scenario.vocabulary.STATE_PARAMS`, which
  also clips ``power`` after a shock's effect);
- experiment files (:mod:`sim.batch.experiment`): :data:`MAX_MAGNITUDE` for a design
  parameter's ``low``, ``high`` and ``values``, and the date range for ``dates``.
"""

from __future__ import annotations

import datetime as dt

#: Largest file, in bytes (baseline.yaml: 43 KB). Checked before the file is read.
MAX_FILE_BYTES = 5_000_000
#: Most YAML nodes (mapping keys, values and list items) in one file, counting every
#: alias as the nodes it stands for (baseline.yaml: about 4,300).
MAX_YAML_NODES = 200_000
#: Most aliases (``*name``) in one file (shipped files: none).
MAX_YAML_ALIASES = 1_000
#: Deepest nesting of mappings and lists, aliases expanded (shipped files: 6).
MAX_YAML_DEPTH = 64
#: Largest whole number anywhere in a file, in absolute value (2**63 - 1, the largest
#: seed); any number must also be finite (no ``.inf``, ``.nan``, ``1e400``).
MAX_INTEGER = 2**63 - 1
#: Most files an ``extends`` chain may add to the file loaded (shipped: 1).
MAX_EXTENDS_CHAIN = 16
#: Longest ``extends`` value, in characters.
MAX_FILE_NAME_CHARS = 1_000
#: Largest magnitude of a shock effect's ``add`` or ``multiply`` operand and of an
#: experiment parameter's ``low``, ``high`` and ``values``: the product of any two such
#: numbers stays finite.
MAX_MAGNITUDE = 1e12
#: The range of a state's ``power`` (a capability; only ratios matter). Shipped: 0.0004
#: to 10. The upper bound keeps sums and squares of powers finite.
MIN_POWER = 1e-9
MAX_POWER = MAX_MAGNITUDE
#: The dates a file may use: ``time.start``, ``time.end``, shock dates and windows, fact
#: windows, an experiment's ``dates`` (shipped: 2018 to 2030).
DATE_MIN = dt.date(1900, 1, 1)
DATE_MAX = dt.date(2200, 12, 31)
#: Most recorded periods in a run (``steps``, or the periods up to ``end``); also the
#: largest ``duration`` and ``max_fires`` of a shock (baseline: 52).
MAX_PERIODS = 2_000
#: Most states in a scenario (baseline: 9).
MAX_STATES = 500
#: Most shocks in a scenario, after ``extends`` (baseline: 13). The figures list every
#: shock (the ensemble figure also the probabilistic ones) below their panels.
MAX_SHOCKS = 40
#: Most times the shocks of a scenario can fire in one run (baseline: 13): a dated shock
#: once; a probabilistic shock up to ``max_fires`` times (at most once per period of its
#: window), once if it has no ``duration``. The run figure marks every firing.
MAX_SHOCK_FIRINGS = 60
