export * from "./redact.js";
export * from "./stream.js";
