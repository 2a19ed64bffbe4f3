export * from "./builds.js";
export * from "./gates.js";
export * from "./lock.js";
export * from "./move.js";
export * from "./outbox.js";
export * from "./previews.js";
export * from "./releases.js";
export * from "./table.js";
