// lorawatch JS codec sandbox prelude: evaluated in every fresh QuickJS context before the
// vendor codec. It adds what vendor codecs expect from Node/ChirpStack and nothing that reaches
// outside the context: a Node-compatible subset of Buffer and a console that discards output.
// Both are ordinary writable globals, so a codec that ships its own polyfill replaces them.
"use strict";
(function (G) {
  var HEX = "0123456789abcdef";
  var B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  var B64_INDEX = {};
  for (var i = 0; i < 64; i++) B64_INDEX[B64.charAt(i)] = i;
  B64_INDEX["-"] = 62; // base64url
  B64_INDEX["_"] = 63;

  function hexBytes(text) {
    var out = [];
    for (var i = 0; i + 1 < text.length; i += 2) {
      var pair = text.substr(i, 2);
      if (!/^[0-9a-fA-F]{2}$/.test(pair)) break; // Node stops at the first bad pair
      out.push(parseInt(pair, 16));
    }
    return out;
  }

  function base64Bytes(text) {
    var out = [];
    var acc = 0;
    var bits = 0;
    for (var i = 0; i < text.length; i++) {
      var ch = text.charAt(i);
      if (ch === "=") break;
      var v = B64_INDEX[ch];
      if (v === undefined) continue; // whitespace and stray characters are skipped, as Node does
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        out.push((acc >> bits) & 0xff);
      }
    }
    return out;
  }

  function base64Text(bytes, url) {
    var out = "";
    for (var i = 0; i < bytes.length; i += 3) {
      var n = (bytes[i] << 16) | ((bytes[i + 1] || 0) << 8) | (bytes[i + 2] || 0);
      var left = bytes.length - i;
      out += B64.charAt((n >> 18) & 63) + B64.charAt((n >> 12) & 63);
      out += left > 1 ? B64.charAt((n >> 6) & 63) : url ? "" : "=";
      out += left > 2 ? B64.charAt(n & 63) : url ? "" : "=";
    }
    return url ? out.replace(/\+/g, "-").replace(/\//g, "_") : out;
  }

  function utf8Bytes(text) {
    var out = [];
    for (var i = 0; i < text.length; i++) {
      var c = text.codePointAt(i);
      if (c > 0xffff) i++;
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else
        out.push(
          0xf0 | (c >> 18),
          0x80 | ((c >> 12) & 63),
          0x80 | ((c >> 6) & 63),
          0x80 | (c & 63)
        );
    }
    return out;
  }

  function utf8Text(bytes) {
    var out = "";
    var i = 0;
    while (i < bytes.length) {
      var b = bytes[i];
      var need = b < 0x80 ? 0 : b >= 0xf0 && b < 0xf8 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : -1;
      var c = need === 0 ? b : need === 1 ? b & 31 : need === 2 ? b & 15 : b & 7;
      var ok = need >= 0 && i + need < bytes.length;
      for (var k = 1; ok && k <= need; k++) {
        if ((bytes[i + k] & 0xc0) !== 0x80) ok = false;
        else c = (c << 6) | (bytes[i + k] & 63);
      }
      if (!ok) {
        out += "\ufffd";
        i += 1;
        continue;
      }
      out += String.fromCodePoint(c);
      i += need + 1;
    }
    return out;
  }

  function latin1Bytes(text) {
    var out = [];
    for (var i = 0; i < text.length; i++) out.push(text.charCodeAt(i) & 0xff);
    return out;
  }

  function latin1Text(bytes, mask) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i] & mask);
    return out;
  }

  function encodingOf(encoding) {
    var e = encoding === undefined || encoding === null ? "utf8" : String(encoding).toLowerCase();
    if (e === "utf-8") return "utf8";
    if (e === "binary") return "latin1";
    if (["utf8", "hex", "base64", "base64url", "ascii", "latin1"].indexOf(e) < 0)
      throw new TypeError("Unknown encoding: " + encoding);
    return e;
  }

  function stringBytes(text, encoding) {
    switch (encodingOf(encoding)) {
      case "hex":
        return hexBytes(text);
      case "base64":
      case "base64url":
        return base64Bytes(text);
      case "ascii":
      case "latin1":
        return latin1Bytes(text);
      default:
        return utf8Bytes(text);
    }
  }

  function checkOffset(buf, offset, size) {
    var at = offset === undefined ? 0 : offset;
    if (typeof at !== "number" || at !== Math.floor(at) || at < 0 || at + size > buf.length) {
      throw new RangeError(
        'The value of "offset" is out of range. It must be >= 0 and <= ' +
          (buf.length - size) +
          ". Received " +
          at
      );
    }
    return at;
  }

  function view(buf) {
    return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  class Buffer extends Uint8Array {
    static from(value, encodingOrOffset, length) {
      if (typeof value === "string") value = stringBytes(value, encodingOrOffset);
      if (value instanceof ArrayBuffer) {
        var start = encodingOrOffset === undefined ? 0 : encodingOrOffset;
        var count = length === undefined ? value.byteLength - start : length;
        return new Buffer(value, start, count);
      }
      if (value && value.type === "Buffer" && Array.isArray(value.data)) value = value.data;
      if (value && typeof value.length === "number") {
        var out = new Buffer(value.length);
        for (var i = 0; i < value.length; i++) out[i] = value[i];
        return out;
      }
      throw new TypeError("Buffer.from: expected a string, an array, a Buffer or an ArrayBuffer");
    }

    static alloc(size, fill) {
      var out = new Buffer(size);
      if (fill !== undefined) out.fill(typeof fill === "number" ? fill : 0);
      return out;
    }

    static allocUnsafe(size) {
      return new Buffer(size);
    }

    static isBuffer(value) {
      return value instanceof Buffer;
    }

    static isEncoding(encoding) {
      try {
        encodingOf(encoding);
        return true;
      } catch (e) {
        return false;
      }
    }

    static byteLength(value, encoding) {
      return typeof value === "string" ? stringBytes(value, encoding).length : value.byteLength;
    }

    static concat(list, totalLength) {
      var total = 0;
      for (var i = 0; i < list.length; i++) total += list[i].length;
      var out = new Buffer(totalLength === undefined ? total : totalLength);
      var at = 0;
      for (var j = 0; j < list.length && at < out.length; j++) {
        var part = list[j].subarray(0, out.length - at);
        out.set(part, at);
        at += part.length;
      }
      return out;
    }

    // Node's slice is a view on the same memory, not a copy.
    slice(start, end) {
      return this.subarray(start, end);
    }

    toString(encoding, start, end) {
      var bytes = this.subarray(start || 0, end === undefined ? this.length : end);
      switch (encodingOf(encoding)) {
        case "hex":
          var out = "";
          for (var i = 0; i < bytes.length; i++) out += HEX.charAt(bytes[i] >> 4) + HEX.charAt(bytes[i] & 15);
          return out;
        case "base64":
          return base64Text(bytes, false);
        case "base64url":
          return base64Text(bytes, true);
        case "ascii":
          return latin1Text(bytes, 0x7f);
        case "latin1":
          return latin1Text(bytes, 0xff);
        default:
          return utf8Text(bytes);
      }
    }

    toJSON() {
      return { type: "Buffer", data: Array.prototype.slice.call(this) };
    }

    equals(other) {
      if (other.length !== this.length) return false;
      for (var i = 0; i < this.length; i++) if (this[i] !== other[i]) return false;
      return true;
    }

    copy(target, targetStart, sourceStart, sourceEnd) {
      var part = this.subarray(sourceStart || 0, sourceEnd === undefined ? this.length : sourceEnd);
      var at = targetStart || 0;
      part = part.subarray(0, Math.max(0, target.length - at));
      target.set(part, at);
      return part.length;
    }

    readUIntLE(offset, byteLength) {
      var at = checkOffset(this, offset, byteLength);
      var value = 0;
      for (var i = byteLength - 1; i >= 0; i--) value = value * 256 + this[at + i];
      return value;
    }

    readUIntBE(offset, byteLength) {
      var at = checkOffset(this, offset, byteLength);
      var value = 0;
      for (var i = 0; i < byteLength; i++) value = value * 256 + this[at + i];
      return value;
    }

    readIntLE(offset, byteLength) {
      var value = this.readUIntLE(offset, byteLength);
      var limit = Math.pow(2, 8 * byteLength - 1);
      return value >= limit ? value - 2 * limit : value;
    }

    readIntBE(offset, byteLength) {
      var value = this.readUIntBE(offset, byteLength);
      var limit = Math.pow(2, 8 * byteLength - 1);
      return value >= limit ? value - 2 * limit : value;
    }
  }

  // Fixed-width reads and writes, generated from one table; aliases use Node's "Uint" spelling.
  var TYPES = [
    ["UInt8", "Uint8", 1],
    ["Int8", "Int8", 1],
    ["UInt16", "Uint16", 2],
    ["Int16", "Int16", 2],
    ["UInt32", "Uint32", 4],
    ["Int32", "Int32", 4],
    ["Float", "Float32", 4],
    ["Double", "Float64", 8],
    ["BigUInt64", "BigUint64", 8],
    ["BigInt64", "BigInt64", 8],
  ];

  function define(name, fn) {
    Object.defineProperty(Buffer.prototype, name, {
      value: fn,
      writable: true,
      configurable: true,
      enumerable: false,
    });
    var alias = name.replace("UInt", "Uint");
    if (alias !== name) define(alias, fn);
  }

  TYPES.forEach(function (t) {
    var name = t[0];
    var getter = "get" + t[1];
    var setter = "set" + t[1];
    var size = t[2];
    var orders = size === 1 ? [["", true]] : [["LE", true], ["BE", false]];
    orders.forEach(function (o) {
      var little = o[1];
      define("read" + name + o[0], function (offset) {
        var at = checkOffset(this, offset, size);
        return view(this)[getter](at, little);
      });
      define("write" + name + o[0], function (value, offset) {
        var at = checkOffset(this, offset, size);
        view(this)[setter](at, value, little);
        return at + size;
      });
    });
  });

  var hidden = { writable: true, configurable: true, enumerable: false };
  Object.defineProperty(G, "Buffer", Object.assign({ value: Buffer }, hidden));
  var discard = function () {};
  var console = { log: discard, info: discard, warn: discard, error: discard, debug: discard };
  Object.defineProperty(G, "console", Object.assign({ value: console }, hidden));
})(globalThis);

// Dates in UTC, whatever the host's time zone: a codec's getHours() or new Date(y, m, d) must
// not depend on where lorawatch runs. Local-time methods become their UTC twins, strings
// without a zone parse as UTC, and the text forms are Node's under TZ=UTC.
(function (G) {
  var NativeDate = G.Date;
  var proto = NativeDate.prototype;
  var nativeParse = NativeDate.parse;
  var UTC = NativeDate.UTC;
  var DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  var hidden = { writable: true, configurable: true, enumerable: false };
  function set(obj, name, fn) {
    Object.defineProperty(obj, name, Object.assign({ value: fn }, hidden));
  }
  ["FullYear", "Month", "Date", "Day", "Hours", "Minutes", "Seconds", "Milliseconds"].forEach(
    function (part) {
      set(proto, "get" + part, proto["getUTC" + part]);
      if (part !== "Day") set(proto, "set" + part, proto["setUTC" + part]);
    }
  );
  function two(n) {
    return (n < 10 ? "0" : "") + n;
  }
  function year(d) {
    var y = d.getUTCFullYear();
    var text = String(Math.abs(y));
    while (text.length < 4) text = "0" + text;
    return (y < 0 ? "-" : "") + text;
  }
  function datePart(d) {
    return DAYS[d.getUTCDay()] + " " + MONTHS[d.getUTCMonth()] + " " + two(d.getUTCDate()) + " " + year(d);
  }
  function timePart(d) {
    return two(d.getUTCHours()) + ":" + two(d.getUTCMinutes()) + ":" + two(d.getUTCSeconds()) +
      " GMT+0000 (Coordinated Universal Time)";
  }
  function valid(d) {
    return !isNaN(d.getTime());
  }
  function clock(d) {
    var h = d.getUTCHours() % 12;
    return (h === 0 ? 12 : h) + ":" + two(d.getUTCMinutes()) + ":" + two(d.getUTCSeconds()) +
      (d.getUTCHours() < 12 ? " AM" : " PM");
  }
  function day(d) {
    return d.getUTCMonth() + 1 + "/" + d.getUTCDate() + "/" + d.getUTCFullYear();
  }
  set(proto, "getTimezoneOffset", function () {
    return valid(this) ? 0 : NaN;
  });
  set(proto, "getYear", function () {
    return this.getUTCFullYear() - 1900;
  });
  set(proto, "toString", function () {
    return valid(this) ? datePart(this) + " " + timePart(this) : "Invalid Date";
  });
  set(proto, "toDateString", function () {
    return valid(this) ? datePart(this) : "Invalid Date";
  });
  set(proto, "toTimeString", function () {
    return valid(this) ? timePart(this) : "Invalid Date";
  });
  set(proto, "toLocaleString", function () {
    return valid(this) ? day(this) + ", " + clock(this) : "Invalid Date";
  });
  set(proto, "toLocaleDateString", function () {
    return valid(this) ? day(this) : "Invalid Date";
  });
  set(proto, "toLocaleTimeString", function () {
    return valid(this) ? clock(this) : "Invalid Date";
  });
  var ZONED = /(Z|GMT|UTC|[+-]\d\d:?\d\d|\b[ECMP][SD]T)\s*(\([^)]*\))?\s*$/i;
  function parse(text) {
    text = String(text);
    if (ZONED.test(text)) return nativeParse(text);
    var asUtc = nativeParse(text + "Z");
    if (isNaN(asUtc)) asUtc = nativeParse(text + " GMT");
    return isNaN(asUtc) ? nativeParse(text) : asUtc;
  }
  function Date(a, b, c, d, e, f, g) {
    var n = arguments.length;
    if (!new.target) return new NativeDate(NativeDate.now()).toString();
    if (n === 0) return new NativeDate(NativeDate.now());
    if (n === 1) {
      var v = a instanceof NativeDate ? a.getTime() : a;
      return new NativeDate(typeof v === "string" ? parse(v) : v);
    }
    return new NativeDate(UTC.apply(null, arguments));
  }
  Date.prototype = proto;
  set(proto, "constructor", Date);
  set(Date, "parse", parse);
  set(Date, "UTC", UTC);
  set(Date, "now", NativeDate.now);
  Object.defineProperty(G, "Date", Object.assign({ value: Date }, hidden));
})(globalThis);
