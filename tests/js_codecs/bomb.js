// Allocates without bound when the first byte is 0xff (doubling a flat string), 0xfe (growing
// an array of arrays) or 0xfd (adding properties to an object); anything else decodes.
function decodeUplink(input) {
  var first = input.bytes[0];
  if (first === 0xff) {
    var s = "x";
    for (;;) s = s.repeat(2);
  }
  if (first === 0xfe) {
    var hoard = [];
    for (;;) hoard.push(new Array(4096).fill(first));
  }
  if (first === 0xfd) {
    var keys = {};
    for (var i = 0; ; i++) keys["k" + i] = i;
  }
  return { data: { first: first } };
}
