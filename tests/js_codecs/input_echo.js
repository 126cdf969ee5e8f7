// Returns the TS013 input it was given, to check its shape.
function decodeUplink(input) {
  return {
    data: {
      bytes: input.bytes,
      isArray: Array.isArray(input.bytes),
      fPort: input.fPort,
      recvTime: input.recvTime.toISOString(),
      isDate: input.recvTime instanceof Date,
      variables: input.variables,
    },
  };
}
