// Defines a global that cannot be deleted: the sandbox must rebuild its context afterwards.
function decodeUplink(input) {
  var before = typeof stuck === "undefined" ? null : stuck;
  if (input.bytes[0] === 1) {
    Object.defineProperty(globalThis, "stuck", { value: "leak", enumerable: true, configurable: false });
  }
  return { data: { before: before } };
}
