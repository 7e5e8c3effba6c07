export { UmldClient, checkAnswer, type Args, type ArgList, type Checked, type ClientOptions } from "./client.js";
export { ApiError, ProtocolError } from "./errors.js";
export { fetchTransport, type FetchLike, type HttpRequest, type HttpResponse, type Transport } from "./transport.js";
export { webSocketProtocols } from "./websocket.js";
