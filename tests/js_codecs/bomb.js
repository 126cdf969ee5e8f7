// Allocates without bound when the first byte is 0xff (doubling a string), or 0xfe (growing an
// array of arrays); anything else decodes.
function decodeUplink(input) {
  var first = input.bytes[0];
  if (first === 0xff) {
    var s = "x";
    for (;;) s = s + s;
  }
  if (first === 0xfe) {
    var hoard = [];
    for (;;) hoard.push(new Array(4096).fill(first));
  }
  return { data: { first: first } };
}
