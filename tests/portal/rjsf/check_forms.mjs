// Runs PAO's generated forms through stock react-jsonschema-form: the default validator of
// @rjsf/validator-ajv8 (exactly as its docs set it up: `import validator from
// "@rjsf/validator-ajv8"`) and the @rjsf/utils functions <Form> itself calls: getDefaultFormState
// (fills in the schema's defaults) and retrieveSchema (resolves the if/then/else branches
// into the fields it draws).
// Input (a JSON file named on the command line):
//   [{"name", "schema", "cases": [{"formData"}]}]
// Output (stdout, JSON): per form, per case, {"formData", "errors", "fields"}: the data with
// rjsf's defaults in, the validator's errors, and the fields rjsf draws for that data.
import { readFileSync } from "node:fs";
import validator from "@rjsf/validator-ajv8";
import { getDefaultFormState, retrieveSchema } from "@rjsf/utils";

const forms = JSON.parse(readFileSync(process.argv[2], "utf8"));
const results = forms.map(({ name, schema, cases }) => ({
  name,
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
