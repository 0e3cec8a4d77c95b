import { readFileSync } from "node:fs";

// Two folders below the package root in src/, dist/ and the CLI bundle (dist/cli/) alike.
const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

/** Divisor's version, from package.json. */
export const VERSION: string = pkg.version;
