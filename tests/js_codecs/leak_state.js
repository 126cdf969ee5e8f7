// A vendor-style codec that keeps its result in a top-level object and only sets "leak" when
// the frame reports one: run in a shared context, device B would inherit device A's leak.
var result = {};
var frames = 0;
function decodeUplink(input) {
  frames += 1;
  if (input.bytes[0] === 1) result.leak = true;
  result.level = input.bytes[1];
  result.frames = frames;
  return { data: result };
}
