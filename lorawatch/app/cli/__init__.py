"""The ``lorawatch`` command line: one module per command group, mounted by :mod:`.main`."""
