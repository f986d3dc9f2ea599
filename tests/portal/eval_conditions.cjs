// Evaluates visible_if conditions with the portal's own evaluator (portal/conditions.js).
// argv: the path of conditions.js, then a JSON file [{"if": <condition schema>, "values"}];
// stdout: a JSON list of booleans (or {"error"} where the evaluator threw), in order.
"use strict";
const { readFileSync } = require("node:fs");
const { conditionHolds } = require(process.argv[2]);
const cases = JSON.parse(readFileSync(process.argv[3], "utf8"));
process.stdout.write(JSON.stringify(cases.map(c => {
  try { return conditionHolds(c.if, c.values); } catch (error) { return { error: String(error) }; }
})));
