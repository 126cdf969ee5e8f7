// A static import of the qjs shell's std module: codecs are scripts, not modules.
import * as std from "std";

function decodeUplink(input) {
  return { data: { file: std.loadFile("/etc/passwd") } };
}
