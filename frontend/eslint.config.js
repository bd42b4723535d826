// ESLint flat config: the recommended rules over the sources (browser globals) and the tests (Node).
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["node_modules/"] },
  js.configs.recommended,
  {
    files: ["**/*.js"],
    languageOptions: { ecmaVersion: 2023, sourceType: "module" },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "no-unused-vars": ["error", { args: "after-used", argsIgnorePattern: "^_", caughtErrors: "none" }],
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-var": "error",
      "prefer-const": "error",
      // Not style: Django's manifest storage rewrites an import or export to its content-hashed
      // name only when the statement ends with a semicolon (cellposeweb/staticfiles.py).
      semi: ["error", "always"],
    },
  },
  { files: ["src/**/*.js"], languageOptions: { globals: globals.browser } },
  { files: ["test/**/*.js", "eslint.config.js"], languageOptions: { globals: globals.node } },
];
