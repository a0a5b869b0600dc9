"""Attribution: which touchpoints earned each conversion (docs/analysts.md, "Attribution").

heuristics.py   first touch, last (non-direct) touch, linear, time decay, position based
markov.py       the removal effect of each channel in a first-order Markov chain
"""
