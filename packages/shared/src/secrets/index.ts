export * from "./aead.js";
export * from "./aws.js";
export * from "./factory.js";
export * from "./local.js";
export * from "./sealed.js";
