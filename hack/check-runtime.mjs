// Fails fast, with the fix, when the project runs on the wrong Node (npm
// scripts must pick up the pinned Node 24 from node_modules/.bin).
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 19)) {
  console.error(
    `ldc-operator needs Node >= 22.19 (pinned: 24, from the "node-linux-*" optionalDependencies) but this is ${process.version} at ${process.execPath}.\n` +
      `Run it through npm (npm test, npm run ...), which puts node_modules/.bin/node first on PATH; run "npm ci" first if node_modules is missing.`,
  );
  process.exit(1);
}
