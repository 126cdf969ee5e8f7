// Defines no codec entry point.
function decode(bytes) {
  return {};
}
