export * from "./errors.js";
export * from "./version.js";
export * from "./names.js";
export * from "./instances.js";
export * from "./operations.js";
export * from "./images.js";
export * from "./events.js";
export * from "./routes.js";
