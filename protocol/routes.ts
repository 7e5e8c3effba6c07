/** The route table moved to contract.ts; this name stays for older importers. */
export * from "./contract.js";
export { contract as routes, type Contract as Routes } from "./contract.js";
