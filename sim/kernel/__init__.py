"""The model's mathematics: pure numpy functions over arrays with leading batch axes.

No Mesa, no I/O, no randomness of their own (draws are passed in). ``payoffs`` scores a
state's row of ties, ``decision`` turns scores into choices, ``indices`` derives the
measures reported for each state. Both drivers call these and nothing else to decide.
"""
