"""The rule domains: water, energy, waste, lighting and fleet health."""
