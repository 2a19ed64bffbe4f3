export * from "./repos.js";
