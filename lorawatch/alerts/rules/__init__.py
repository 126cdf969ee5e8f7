"""The rule domains: water, energy, waste, lighting and fleet health."""

DOMAINS = ("water", "energy", "waste", "lighting", "fleet")
"""An alert's kind is its rule's domain."""

RULES = (
    "water.leak",
    "water.burst",
    "water.continuous_flow",
    "water.night_flow",
    "energy.baseline",
    "energy.daily_budget",
    "energy.unoccupied",
    "waste.fill",
    "waste.tilt",
    "waste.time_to_full",
    "lighting.failure",
    "lighting.day_burning",
    "lighting.dark",
    "lighting.dimming",
    "fleet.silent",
    "fleet.battery",
    "fleet.decode_errors",
    "fleet.fcnt_reset",
)
"""Every rule id the domains raise (``alerts list --kind`` accepts these and the domains)."""
