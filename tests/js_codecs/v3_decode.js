// ChirpStack v3 codec: Decode(fPort, bytes, variables) returns the data object itself.
// Bytes: temperature i16 big-endian in 0.01 °C, battery %, lamp flag. Keys are canonical names.
function Decode(fPort, bytes, variables) {
  var b = Buffer.from(bytes);
  return {
    temperature_c: b.readInt16BE(0) / 100,
    battery_pct: b.readUInt8(2),
    lamp_on: b[3] === 1,
    port: fPort,
    site: variables.site === undefined ? null : variables.site,
  };
}
