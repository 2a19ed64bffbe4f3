export * from "./deployment.js";
export * from "./freezes.js";
export * from "./names.js";
export * from "./policy.js";
