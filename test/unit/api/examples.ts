// Loads examples/*.yaml and examples/invalid/*.yaml for the schema tests.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const EXAMPLES_DIR = fileURLToPath(new URL("../../../examples/", import.meta.url));

export interface ExampleObject {
  file: string;
  obj: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } } & Record<string, unknown>;
}

function load(file: string): ExampleObject["obj"][] {
  return parseAllDocuments(readFileSync(file, "utf8"))
    .map((d) => d.toJS() as ExampleObject["obj"] | null)
    .filter((o): o is ExampleObject["obj"] => o !== null);
}

/** Every object of examples/*.yaml, in the order `kubectl apply -f examples/` applies them (files alphabetically). */
export function validExamples(): ExampleObject[] {
  return readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((file) => load(join(EXAMPLES_DIR, file)).map((obj) => ({ file, obj })));
}

export interface InvalidExample {
  file: string;
  expect: string;
  obj: ExampleObject["obj"];
}

/** Every examples/invalid/*.yaml: one object each, with its `# expect:` header. */
export function invalidExamples(): InvalidExample[] {
  const dir = join(EXAMPLES_DIR, "invalid");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((file) => {
      const text = readFileSync(join(dir, file), "utf8");
      const m = /^# expect: (.+)$/m.exec(text.split("\n")[0] ?? "");
      const objs = load(join(dir, file));
      if (m === null || objs.length !== 1)
        throw new Error(`${file}: needs a first line "# expect: ..." and exactly one object`);
      return { file, expect: (m[1] as string).trim(), obj: objs[0] as ExampleObject["obj"] };
    });
}
