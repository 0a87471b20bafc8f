import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "charts/", "crds/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { files: ["**/*.mjs", "**/*.js"], languageOptions: { globals: { process: "readonly", console: "readonly" } } },
  // The console's page runs in the browser.
  {
    files: ["src/console/web/**/*.js"],
    languageOptions: {
      globals: Object.fromEntries(
        ["window", "document", "fetch", "queueMicrotask", "CSS", "KeyboardEvent", "EventSource"].map((g) => [
          g,
          "readonly",
        ]),
      ),
    },
  },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  // Layering: the routing core has no Kubernetes dependency (the sidecar uses
  // it alone); reconcilers are pure and import nothing from controllers.
  {
    files: ["src/routing/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@kubernetes/*", "**/controllers/**", "**/reconcilers/**", "**/runtime/**"],
              message: "src/routing must stay free of Kubernetes code: the sidecar imports it alone.",
            },
          ],
        },
      ],
    },
  },
  // The sidecar runs alone in app pods, and the routing API is served by it too: no Kubernetes client.
  {
    files: ["src/sidecar/**/*.ts", "src/routing-api/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@kubernetes/*", "**/controllers/**", "**/runtime/**", "**/operator*"],
              message:
                "the sidecar and the routing API stay free of Kubernetes code (the sidecar runs alone in app pods).",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["src/reconcilers/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: [
                "**/controllers/**",
                "**/runtime/**",
                "node:fs*",
                "node:http*",
                "node:net",
                "node:child_process",
                "node:dns*",
                "express",
                "pino",
                "@kubernetes/*",
              ],
              message: "reconcilers are pure functions: no I/O, nothing from controllers or the runtime.",
            },
          ],
        },
      ],
    },
  },
);
