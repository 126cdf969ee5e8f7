// Exercises the sandbox Buffer on the uplink's bytes so the test can compare with Python.
function decodeUplink(input) {
  var b = Buffer.from(input.bytes);
  var hex = b.toString("hex");
  return {
    data: {
      length: b.length,
      isBuffer: Buffer.isBuffer(b),
      u8: b.readUInt8(0),
      i8: b.readInt8(0),
      u16le: b.readUInt16LE(0),
      u16be: b.readUInt16BE(0),
      i16le: b.readInt16LE(0),
      i16be: b.readInt16BE(0),
      u32le: b.readUInt32LE(0),
      u32be: b.readUInt32BE(0),
      i32le: b.readInt32LE(0),
      i32be: b.readInt32BE(0),
      uint32le_alias: b.readUint32LE(0),
      f32le: b.readFloatLE(0),
      f32be: b.readFloatBE(0),
      f64le: b.readDoubleLE(0),
      u24be: b.readUIntBE(1, 3),
      i24le: b.readIntLE(1, 3),
      u64le: b.readBigUInt64LE(0).toString(),
      hex: hex,
      base64: b.toString("base64"),
      from_hex: Buffer.from(hex, "hex").toString("hex"),
      from_base64: Buffer.from(b.toString("base64"), "base64").toString("hex"),
      slice_hex: b.slice(2, 5).toString("hex"),
      slice_u16be: b.slice(2).readUInt16BE(0),
      utf8: Buffer.from("é€😀", "utf8").toString("hex"),
      utf8_back: Buffer.from("c3a9e282ac", "hex").toString("utf8"),
      out_of_range: (function () {
        try {
          b.readUInt32LE(b.length - 2);
          return "read";
        } catch (e) {
          return e.name;
        }
      })(),
      json: JSON.stringify(b.slice(0, 2)),
      concat: Buffer.concat([b.slice(0, 1), Buffer.from([0xab])]).toString("hex"),
      for_in_keys: (function () {
        var keys = [];
        for (var k in Buffer.from([7])) keys.push(k);
        return keys;
      })(),
    },
  };
}
