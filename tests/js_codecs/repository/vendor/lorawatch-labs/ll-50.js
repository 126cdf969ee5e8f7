// LL-50 (an invented device): level u8 (0-255), battery u8 in %. ChirpStack v4 style.
function decodeUplink(input) {
  return { data: { water_leak_level: input.bytes[0], battery_pct: input.bytes[1] } };
}
