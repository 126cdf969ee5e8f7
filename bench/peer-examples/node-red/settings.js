// Node-RED settings of the bench's Node-RED peer (bench/peers.py): no editor, the bench's
// work directory, this folder's flow, the broker and database from the bench's environment.
const path = require("path");

module.exports = {
    uiHost: "127.0.0.1",
    uiPort: Number(process.env.LORAWATCH_BENCH_FREE_PORT),
    userDir: process.env.LORAWATCH_BENCH_WORKDIR,
    flowFile: path.join(__dirname, "flows.json"),
    credentialSecret: false,
    httpAdminRoot: false,
    httpNodeRoot: false,
    // The decode function writes when the first message came (LORAWATCH_BENCH_FIRST_FILE).
    functionGlobalContext: { fs: require("fs") },
    logging: { console: { level: "warn", metrics: false, audit: false } },
    diagnostics: { enabled: false },
    runtimeState: { enabled: false },
    editorTheme: { projects: { enabled: false } },
};
