// SP-300 (an invented device), The Things Network v2 style: Decoder(bytes, port). Bytes:
// socket 1 state u8, socket 2 state u8, energy u32 BE in Wh, power u16 BE in W, frame
// counter u16 BE (wraps at 65536).
function Decoder(bytes, port) {
  function u(at, n) {
    var v = 0;
    for (var i = 0; i < n; i++) v = v * 256 + bytes[at + i];
    return v;
  }
  return {
    sockets: [{ state: bytes[0] ? "ON" : "OFF" }, { state: bytes[1] ? "ON" : "OFF" }],
    meters: [
      { displayName: "Energy", unit: "Wh", value: u(2, 4) },
      { displayName: "Power", unit: "W", value: u(6, 2) },
    ],
    frames: u(8, 2),
  };
}
