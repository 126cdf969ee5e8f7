"""gateway_bridge: ChirpStack events from MQTT, parsed, de-duplicated, acknowledged after storage."""
