"""app: the top of the house. Root settings composed from each part's own section, the
running service that wires source, pipeline, stores, alerts and web together, the demo runner,
and the ``lorawatch`` command line (``app.cli``). Nothing imports it.
"""
