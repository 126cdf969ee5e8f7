"""inventory: what is where. Communes, buildings and devices, when each building is occupied,
when it is dark there, and which decoder reads each device.

Everything above the decoders asks this part about places; it imports only ``core`` and
``decoders`` (a device's decoder is resolved when the inventory is loaded).
"""

from lorawatch.inventory.model import (
    Building,
    Commune,
    Device,
    Fleet,
    Inventory,
    InventoryFile,
    Profile,
    ResolvedDevice,
    expand_fleets,
    load,
)

__all__ = [
    "Building",
    "Commune",
    "Device",
    "Fleet",
    "Inventory",
    "InventoryFile",
    "Profile",
    "ResolvedDevice",
    "expand_fleets",
    "load",
]
