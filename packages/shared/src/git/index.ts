export * from "./access.js";
export * from "./location.js";
export * from "./ssh-url.js";
