export * from "./canonical-request.js";
export * from "./errors.js";
export * from "./json-server.js";
export * from "./sigv4.js";
