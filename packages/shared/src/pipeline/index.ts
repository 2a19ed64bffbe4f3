export * from "./cancellation.js";
export * from "./notifications.js";
