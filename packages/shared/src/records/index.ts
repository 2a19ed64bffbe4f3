export * from "./codec.js";
export * from "./hash-repo.js";
export * from "./ids.js";
export * from "./keys.js";
export * from "./lifecycle/index.js";
export * from "./repos.js";
export * from "./retention.js";
export * from "./schemas.js";
