"""analytics: what the stored data means. Aggregates (baselines, occupancy split, night
baseload, intensity, year on year), open-data exports and monthly reports.

It reads the stores through their protocol and the inventory; the alerts, the web and the CLI
build on it.
"""
