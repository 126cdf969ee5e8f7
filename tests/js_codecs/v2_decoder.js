// The Things Network v2 codec: Decoder(bytes, port) returns the data object itself.
function Decoder(bytes, port) {
  return { temperature_c: ((bytes[0] << 8) | bytes[1]) / 100, port: port };
}
