"""Built-in device decoders: one module per device family member, its vectors YAML beside it.

Every module here is imported by :mod:`lorawatch.decoders.registry`, and registers its decoder
class with :func:`lorawatch.decoders.registry.register`.
"""
