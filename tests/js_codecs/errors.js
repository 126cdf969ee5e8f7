// Reports failure the TS013 way (errors[]) when the first byte is 0xff, with a warning too.
function decodeUplink(input) {
  if (input.bytes[0] === 0xff) {
    return {
      data: { partial: true },
      warnings: ["frame version 255"],
      errors: ["unknown frame type 0xff", "length " + input.bytes.length + " too short"],
    };
  }
  return { data: { first: input.bytes[0] }, warnings: [] };
}
