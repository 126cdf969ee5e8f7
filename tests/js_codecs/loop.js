// Misbehaves on demand, so one context sees a bad uplink and then good ones.
// First byte 0xff: endless loop; 0xfe: endless loop that tries to catch its interruption;
// 0xfd: unbounded recursion. Anything else decodes.
function recurse(n) {
  return recurse(n + 1) + 1;
}

function decodeUplink(input) {
  var first = input.bytes[0];
  if (first === 0xff) {
    for (;;) {}
  }
  if (first === 0xfe) {
    try {
      for (;;) {}
    } catch (e) {
      return { data: { escaped: String(e) } };
    }
  }
  if (first === 0xfd) return { data: { depth: recurse(0) } };
  return { data: { first: first } };
}
