// Reports what local-time Date methods say, to check that the sandbox runs in UTC.
function decodeUplink(input) {
  var t = input.recvTime;
  return {
    data: {
      hours: t.getHours(),
      offset: t.getTimezoneOffset(),
      text: t.toString(),
      local: new Date(2026, 0, 14, 10, 0, 0).toISOString(),
      parsed: new Date("2026-01-14T10:00:00").toISOString(),
      zoned: new Date("2026-01-14T10:00:00+01:00").toISOString(),
    },
  };
}
