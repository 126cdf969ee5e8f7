// Leaves state everywhere a sloppy codec can: an undeclared variable, a replaced global, a
// property on a built-in prototype and on Math. None of it may reach the next call.
function decodeUplink(input) {
  var before = {
    seen: typeof seen === "undefined" ? null : seen.length,
    json: JSON === undefined ? "replaced" : "native",
    proto: [].lastLeak === undefined ? null : [].lastLeak,
    math: Math.state === undefined ? null : Math.state,
  };
  if (typeof seen === "undefined") seen = [];
  seen.push(input.bytes[0]);
  Array.prototype.lastLeak = input.bytes[0] === 1;
  Math.state = input.bytes[0];
  var out = { data: before };
  JSON = undefined;
  return out;
}
