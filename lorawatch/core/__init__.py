"""core: the vocabulary every part speaks, and nothing else.

Canonical readings, the exception hierarchy, time (epoch microseconds, local periods), settings
building blocks, logging, metrics, number formats and the French/English catalogue. It imports
no other part of lorawatch, so anything may import it.
"""
