export * from "./aead.js";
export * from "./aws.js";
export * from "./cache.js";
export * from "./factory.js";
export * from "./keyring.js";
export * from "./local.js";
export * from "./sealed.js";
