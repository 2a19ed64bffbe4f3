export * from "./stream.js";
