"""The classroom dashboard: a Mesa SolaraViz page (``multivector app``).

:mod:`sim.app.classroom` holds the model and its comparisons (no browser needed);
:mod:`sim.app.page` the page; :mod:`sim.app.serve` starts the server offline.
"""
