// Milesight EM300-DI codec for lorawatch's tests and benchmark, written for lorawatch from the
// byte table of the EM300-DI user guide ("Uplink Packets"): runs of channel id, channel type,
// value. TS013 contract (decodeUplink). Output keys follow the native milesight-em300-di decoder.
var GPIO = { 0: "low", 1: "high" };
var GPIO_TYPE = { 1: "gpio", 2: "counter" };
var WATER_ALARM = {
  1: "water outage timeout alarm",
  2: "water outage timeout alarm release",
  3: "water flow timeout alarm",
  4: "water flow timeout alarm release",
};
var HISTORY_ALARM = Object.assign({ 0: "none", 5: "gpio alarm", 6: "gpio alarm release" }, WATER_ALARM);
var CLASSES = { 0: "Class A", 1: "Class B", 2: "Class C", 3: "Class CtoB" };

function lookup(table, value) {
  return value in table ? table[value] : "unknown (" + value + ")";
}

function round6(x) {
  return Math.round(x * 1e6) / 1e6;
}

function waterFields(b, at, into) {
  into.water_conv = b.readUInt16LE(at) / 10;
  into.pulse_conv = b.readUInt16LE(at + 2) / 10;
  into.water = round6(b.readFloatLE(at + 4));
}

// key "id,type" -> [value length, name used in errors, reader(buffer, offset, data)]
var RECORDS = {
  "1,117": [1, "battery", function (b, at, d) { d.battery = b.readUInt8(at); }],
  "3,103": [2, "temperature", function (b, at, d) { d.temperature = b.readInt16LE(at) / 10; }],
  "4,104": [1, "humidity", function (b, at, d) { d.humidity = b.readUInt8(at) / 2; }],
  "5,0": [1, "gpio", function (b, at, d) { d.gpio = lookup(GPIO, b.readUInt8(at)); }],
  "5,200": [4, "pulse", function (b, at, d) { d.pulse = b.readUInt32LE(at); }],
  "5,225": [8, "water_conv", function (b, at, d) { waterFields(b, at, d); }],
  "133,0": [2, "gpio", function (b, at, d) {
    d.gpio = lookup(GPIO, b[at]);
    d.gpio_alarm = b[at + 1] === 1 ? "gpio alarm" : "gpio alarm release";
  }],
  "133,225": [9, "water_conv", function (b, at, d) {
    waterFields(b, at, d);
    d.water_alarm = lookup(WATER_ALARM, b[at + 8]);
  }],
  "32,206": [13, "history timestamp", function (b, at, d) {
    var p = { timestamp: b.readUInt32LE(at) };
    p.temperature = b.readInt16LE(at + 4) / 10;
    p.humidity = b[at + 6] / 2;
    var mode = b[at + 7];
    p.gpio_type = lookup(GPIO_TYPE, mode);
    if (mode === 1) p.gpio = lookup(GPIO, b[at + 8]);
    else if (mode === 2) p.pulse = b.readUInt32LE(at + 9);
    (d.history = d.history || []).push(p);
  }],
  "33,206": [18, "history timestamp", function (b, at, d) {
    var p = { timestamp: b.readUInt32LE(at) };
    p.temperature = b.readInt16LE(at + 4) / 10;
    p.humidity = b[at + 6] / 2;
    p.alarm = lookup(HISTORY_ALARM, b[at + 7]);
    var mode = b[at + 8];
    p.gpio_type = lookup(GPIO_TYPE, mode);
    if (mode === 1) p.gpio = lookup(GPIO, b[at + 9]);
    else if (mode === 2) waterFields(b, at + 10, p);
    (d.history = d.history || []).push(p);
  }],
  "255,1": [1, "ipso_version", function (b, at, d) {
    d.ipso_version = "v" + (b[at] >> 4) + "." + (b[at] & 15);
  }],
  // Versions are hex digits: the user guide reads 0110 as v1.10.
  "255,9": [2, "hardware_version", function (b, at, d) {
    d.hardware_version = "v" + b[at].toString(16) + "." + (b[at + 1] >> 4).toString(16);
  }],
  "255,10": [2, "firmware_version", function (b, at, d) {
    d.firmware_version = "v" + b[at].toString(16) + "." + b[at + 1].toString(16);
  }],
  "255,255": [2, "tsl_version", function (b, at, d) {
    d.tsl_version = "v" + b[at] + "." + b[at + 1];
  }],
  "255,22": [8, "sn", function (b, at, d) { d.sn = b.toString("hex", at, at + 8); }],
  "255,15": [1, "lorawan_class", function (b, at, d) { d.lorawan_class = lookup(CLASSES, b[at]); }],
  "255,254": [1, "reset_event", function (b, at, d) { d.reset_event = "reset"; }],
  "255,11": [1, "device_status", function (b, at, d) { d.device_status = "on"; }],
};

function decodeUplink(input) {
  var b = Buffer.from(input.bytes);
  var data = {};
  var warnings = [];
  if (input.fPort !== 85) warnings.push("fPort " + input.fPort + " is not Milesight's default 85");
  if (b.length === 0) return { errors: ["empty payload"], warnings: warnings };
  var i = 0;
  while (i < b.length) {
    if (b.length - i < 2) {
      return { errors: ["dangling byte at offset " + i + ": a record needs id and type"] };
    }
    var record = RECORDS[b[i] + "," + b[i + 1]];
    if (!record) {
      var message =
        "unknown channel 0x" + b.toString("hex", i, i + 1) + " type 0x" +
        b.toString("hex", i + 1, i + 2) + " at offset " + i;
      if (Object.keys(data).length === 0) return { errors: [message], warnings: warnings };
      warnings.push(message);
      break;
    }
    if (b.length - i - 2 < record[0]) {
      return { errors: [record[1] + ": needs " + record[0] + " byte(s)"], warnings: warnings };
    }
    record[2](b, i + 2, data);
    i += 2 + record[0];
  }
  return { data: data, warnings: warnings };
}
