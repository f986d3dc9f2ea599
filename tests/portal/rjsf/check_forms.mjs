// Runs PAO's generated forms through stock react-jsonschema-form: the default validator of
// @rjsf/validator-ajv8 (exactly as its docs set it up: `import validator from
// "@rjsf/validator-ajv8"`) and the @rjsf/utils functions <Form> itself calls: getDefaultFormState
// (fills in the schema's defaults) and retrieveSchema (resolves the if/then/else branches
// into the fields it draws).
// Input (a JSON file named on the command line):
//   [{"name", "schema", "cases": [{"formData"}]}]
// Output (stdout, JSON): per form, {"strict": null or why a strict draft-07 Ajv refuses the
// schema (a keyword draft-07 lacks, which rjsf's lenient Ajv would silently ignore), "cases":
// [{"formData", "errors", "fields"}]}: the data with rjsf's defaults in, the validator's
// errors, and the fields rjsf draws for that data.
import { readFileSync } from "node:fs";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import validator from "@rjsf/validator-ajv8";
import { getDefaultFormState, retrieveSchema } from "@rjsf/utils";

const forms = JSON.parse(readFileSync(process.argv[2], "utf8"));

// Ajv's draft-07 with strictSchema knows every draft-07 keyword and nothing else; the
// ajv-errors keyword the forms carry custom messages in is declared.
const strictAjv = addFormats(new Ajv({ strictSchema: true, strictRequired: false, strictTypes: false, allErrors: true }));
strictAjv.addKeyword("errorMessage");
function strictProblem(schema) {
  try { strictAjv.compile(schema); return null; } catch (error) { return String(error.message || error); }
}

const results = forms.map(({ name, schema, cases }) => ({
  name,
  strict: strictProblem(schema),
  cases: cases.map(({ formData: given }) => {
    const formData = getDefaultFormState(validator, schema, given, schema);
    const { errors } = validator.validateFormData(formData, schema);
    const resolved = retrieveSchema(validator, schema, schema, formData);
    return {
      formData,
      errors: errors.map(e => e.stack),
      fields: Object.keys(resolved.properties || {}),
    };
  }),
}));
process.stdout.write(JSON.stringify(results));
