// A deployer booted through its own production entry point (services/deployer/dist/main.js) with
// one thing replaced through its override module: the gates' clock, real time moved by
// GATES_CLOCK_OFFSET_MS, so a test can run a real deployer process whose "now" is inside a freeze.
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const root = resolve(import.meta.dirname, "..", "..", "..");
const dist = (file) => pathToFileURL(join(root, "services", "deployer", "dist", file)).href;
const offset = Number(process.env.GATES_CLOCK_OFFSET_MS ?? 0);
if (!Number.isFinite(offset)) throw new Error("GATES_CLOCK_OFFSET_MS must be a number of milliseconds");
const { overrideDeployer } = await import(dist("overrides.js"));
overrideDeployer({ now: () => Date.now() + offset });
await import(dist("main.js"));
