export * from "./deployment.js";
export * from "./freeze-window.js";
export * from "./freezes.js";
export * from "./names.js";
export * from "./policy.js";
