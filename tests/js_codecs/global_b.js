// Same global as global_a.js, other value.
function decodeUplink(input) {
  var before = typeof owner === "undefined" ? null : owner;
  globalThis.owner = "b";
  return { data: { before: before, me: "b" } };
}
