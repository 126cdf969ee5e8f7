// A syntax error on line 4.
function decodeUplink(input) {
  var data = {};
  data.x = (input.bytes[0] +;
  return { data: data };
}
