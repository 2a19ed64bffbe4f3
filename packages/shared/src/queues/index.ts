export * from "./build.js";
export * from "./catalog.js";
export * from "./define.js";
export * from "./deploy.js";
export * from "./notify.js";
export * from "./permanent.js";
export * from "./producer.js";
export * from "./worker.js";
