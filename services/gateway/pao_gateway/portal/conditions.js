// When a conditional field shows: the `if` of its branch in the generated form's `allOf`,
// tested against the form's current values. The server decides with a JSON Schema
// validator over the very same `if` (pao_catalog_model.forms.condition_holds); this evaluates
// the keywords those `if`s are built from (pao_catalog_model.forms.condition_schema), with JSON
// Schema's meaning, so the portal and the server agree on every visible_if operator
// (tests/portal/test_visible_if.py runs one table of cases through both).
// A keyword outside that set throws: the portal then shows the field, and the table's
// test fails, rather than silently guessing.
"use strict";

const PaoConditions = (() => {
  const KNOWN = new Set(["type", "const", "enum", "required", "properties", "contains", "not", "anyOf", "allOf",
    "title", "description"]);

  function isObject(value) { return typeof value === "object" && value !== null && !Array.isArray(value); }

  // JSON equality: 3 and 3.0 are one number, objects compare by members, arrays in order.
  function equal(a, b) {
    if (Array.isArray(a) || Array.isArray(b)) {
      return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => equal(x, b[i]));
    }
    if (isObject(a) || isObject(b)) {
      if (!isObject(a) || !isObject(b)) return false;
      const keys = Object.keys(a).filter(k => a[k] !== undefined);
      return keys.length === Object.keys(b).filter(k => b[k] !== undefined).length
        && keys.every(k => b[k] !== undefined && equal(a[k], b[k]));
    }
    return a === b;
  }

  function hasType(value, type) {
    switch (type) {
      case "array": return Array.isArray(value);
      case "object": return isObject(value);
      case "integer": return Number.isInteger(value);
      case "number": return typeof value === "number";
      case "null": return value === null;
      default: return typeof value === type;  // string, boolean
    }
  }

  // Whether `value` is valid against `schema` (for the keywords in KNOWN).
  function matches(schema, value) {
    if (schema === true) return true;
    if (schema === false) return false;
    for (const keyword of Object.keys(schema)) {
      if (!KNOWN.has(keyword)) throw new Error(`visible_if: the portal cannot evaluate "${keyword}"`);
    }
    if ("type" in schema && ![].concat(schema.type).some(t => hasType(value, t))) return false;
    if ("const" in schema && !equal(value, schema.const)) return false;
    if ("enum" in schema && !schema.enum.some(v => equal(value, v))) return false;
    if (isObject(value)) {
      // An empty field has no value (undefined), as if it were left out of the JSON.
      for (const name of schema.required || []) if (value[name] === undefined) return false;
      for (const [name, sub] of Object.entries(schema.properties || {})) {
        if (value[name] !== undefined && !matches(sub, value[name])) return false;
      }
    }
    if ("contains" in schema && Array.isArray(value) && !value.some(v => matches(schema.contains, v))) return false;
    if ("not" in schema && matches(schema.not, value)) return false;
    if ("anyOf" in schema && !schema.anyOf.some(s => matches(s, value))) return false;
    if ("allOf" in schema && !schema.allOf.every(s => matches(s, value))) return false;
    return true;
  }

  // Whether a branch's `if` holds for the form's values ({field: value}; undefined = empty).
  function conditionHolds(condition, values) { return matches(condition, values); }

  return { conditionHolds, matches };
})();

if (typeof module !== "undefined") module.exports = PaoConditions;
