// WL-100 (an invented device): fPort 1, flags u8 (bit 0 leak, bit 1 tamper), volume u32 BE in
// litres, battery u16 BE in mV, temperature i16 BE in 0.1 °C. Written in the style of many
// vendor codecs: a top-level result object and lookup table, TS013 decodeUplink, and a TTN
// normalizeUplink.
var STATUS = { 0: "NoLeak", 1: "Leak" };
var decoded = {};

function decodeUplink(input) {
  var b = input.bytes;
  if (input.fPort !== 1) return { errors: ["unknown FPort"] };
  if (b.length < 9) return { errors: ["payload too short"] };
  decoded.status = STATUS[b[0] & 1];
  decoded.tamper = (b[0] & 2) !== 0;
  decoded.volume_l = ((b[1] << 24) >>> 0) + (b[2] << 16) + (b[3] << 8) + b[4];
  decoded.battery_v = ((b[5] << 8) | b[6]) / 1000;
  var t = (b[7] << 8) | b[8];
  decoded.temperature = (t > 0x7fff ? t - 0x10000 : t) / 10;
  return { data: decoded };
}

function normalizeUplink(input) {
  return {
    data: {
      water: { leak: input.data.status === "Leak" },
      metering: { water: { total: input.data.volume_l } },
      air: { temperature: input.data.temperature },
      battery: input.data.battery_v,
    },
  };
}
