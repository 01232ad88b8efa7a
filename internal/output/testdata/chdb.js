// Runs SQL statements on chDB, ClickHouse's engine as a library, for the
// Go tests of the ClickHouse output (chdb_test.go).
//
//   NODE_PATH=$VIGIL_CHDB/node_modules node chdb.js SESSION_DIR < statements.json
//
// SESSION_DIR holds the databases; it persists between runs. stdin is a JSON
// array of statements, [{"sql": "...", "params": {"name": value}}]: with
// params the values are bound by the engine to the statement's {name:Type}
// placeholders (queryBind), never put into the SQL text. stdout is a JSON
// array with the result rows of each statement, in order (JSONEachRow
// objects; [] for a statement without a result). The first statement that
// fails stops the run: its number, its SQL and ClickHouse's message go to
// stderr and the exit status is 1.
"use strict";

const fs = require("fs");
const chdb = require("chdb");

function main() {
  if (process.argv.length !== 3) {
    process.stderr.write("usage: node chdb.js SESSION_DIR < statements.json\n");
    return 2;
  }
  const stmts = JSON.parse(fs.readFileSync(0, "utf8"));
  if (!Array.isArray(stmts)) {
    process.stderr.write("chdb.js: stdin must be a JSON array of statements\n");
    return 2;
  }
  // Plain JSON numbers for 64-bit integers (count() and the like).
  const session = new chdb.Session(process.argv[2], {
    connectionArgs: ["--output_format_json_quote_64bit_integers=0"],
  });
  try {
    const results = [];
    for (const [i, st] of stmts.entries()) {
      let out;
      try {
        out = st.params
          ? session.queryBind(st.sql, st.params, "JSONEachRow")
          : session.query(st.sql, "JSONEachRow");
      } catch (e) {
        process.stderr.write(`statement ${i + 1}: ${st.sql}\n${e.message}\n`);
        return 1;
      }
      results.push(
        String(out ?? "")
          .split("\n")
          .filter((l) => l !== "")
          .map((l) => JSON.parse(l)),
      );
    }
    process.stdout.write(JSON.stringify(results) + "\n");
    return 0;
  } finally {
    session.close();
  }
}

process.exitCode = main();
