// Counts its calls in a global, so a test can tell which context served a decode.
var calls = 0;
const decodeUplink = (input) => {
  calls += 1;
  return { data: { calls: calls, temperature_c: input.bytes[0] } };
};
