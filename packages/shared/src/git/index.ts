export * from "./access.js";
export * from "./location.js";
