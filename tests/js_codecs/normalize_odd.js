// A TS013 codec whose normalizeUplink says a leak state lorawatch cannot read ("maybe").
function decodeUplink(input) {
  return { data: { level: input.bytes[0] } };
}

function normalizeUplink(input) {
  return { data: { water: { leak: input.data.level > 9 ? "maybe" : false }, battery: 3.1 } };
}
