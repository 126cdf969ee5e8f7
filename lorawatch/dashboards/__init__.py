"""Grafana dashboards as code: provisioning files and dashboards generated from the inventory.

The inventory already knows every commune, building, surface, campaign start and device, so the
dashboards are derived from it rather than drawn by hand: regenerating after an inventory change
keeps every panel, uid and link consistent. ``lorawatch dashboards build`` writes the tree that a
Grafana container mounts (see ``deploy/grafana/README.md``).
"""

DEFAULT_DASHBOARDS_PATH = "/var/lib/grafana/dashboards"
"""Where the Grafana container sees the generated ``dashboards/`` folder (the providers' path)."""
