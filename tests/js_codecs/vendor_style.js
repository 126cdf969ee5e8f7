"use strict";
// Idioms of vendor codecs that must behave as in a script run by Node or ChirpStack: a strict
// directive, const tables, hoisted helpers, both entry points (TS013 wrapping TTN v2), a
// guarded polyfill, and `this` at the top level being the global object.
const KINDS = Object.freeze({ 1: "temperature", 2: "humidity" });
var topThis = this === globalThis;

if (!Object.assign) {
  Object.defineProperty(Object, "assign", { value: function () {}, configurable: true });
}

function decodeUplink(input) {
  var res = Decoder(input.bytes, input.fPort);
  return res.error ? { errors: [res.error] } : { data: res };
}

function Decoder(bytes, port) {
  if (port !== 5) return { error: "unknown port " + port };
  return Object.assign({ topThis: topThis }, read(bytes));
}

function read(bytes) {
  return { kind: KINDS[bytes[0]] || "unknown", value: int16(bytes[1], bytes[2]) / 10 };
}

function int16(hi, lo) {
  const v = (hi << 8) | lo;
  return v > 0x7fff ? v - 0x10000 : v;
}
