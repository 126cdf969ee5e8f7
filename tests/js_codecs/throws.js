// Throws when the first byte is 0xff (the way careless codecs fail on short frames).
function decodeUplink(input) {
  if (input.bytes[0] === 0xff) {
    throw new TypeError("unsupported frame");
  }
  return { data: { first: input.bytes[0] } };
}
