// Sets the global "owner" and reports what it found there first (isolation test).
function decodeUplink(input) {
  var before = typeof owner === "undefined" ? null : owner;
  globalThis.owner = "a";
  return { data: { before: before, me: "a" } };
}
