// Tries every way out of the sandbox that Node, browsers, Deno and the qjs shell offer, and
// reports what each attempt did, with the list of every global it can see.
function attempt(f) {
  try {
    f();
    return "succeeded";
  } catch (e) {
    return e.name;
  }
}

function decodeUplink(input) {
  return {
    data: {
      require: attempt(function () { require("fs").readFileSync("/etc/passwd"); }),
      fetch: attempt(function () { fetch("http://127.0.0.1/"); }),
      process: attempt(function () { process.env.HOME; }),
      std: attempt(function () { std.loadFile("/etc/passwd"); }),
      os: attempt(function () { os.open("/etc/passwd", 0); }),
      XMLHttpRequest: attempt(function () { new XMLHttpRequest(); }),
      Deno: attempt(function () { Deno.readTextFileSync("/etc/passwd"); }),
      print: attempt(function () { print("hello"); }),
      loadScript: attempt(function () { __loadScript("/etc/passwd"); }),
      globals: Object.getOwnPropertyNames(globalThis).sort(),
    },
  };
}
