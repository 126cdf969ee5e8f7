"""Simulators: realistic vendor payloads wrapped in ChirpStack events, for demos, tests and load."""
