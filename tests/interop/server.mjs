// Serves Api over capnweb WebSocket and HTTP batch on 127.0.0.1 (free port). Prints
// "PORT <n>" once listening; exits when stdin closes.
import http from "node:http";
import { WebSocket, WebSocketServer } from "ws";

// capnweb's WebSocket transport refers to the global WebSocket class (absent in Node 20).
globalThis.WebSocket ??= WebSocket;
const { newWebSocketRpcSession, nodeHttpBatchRpcResponse } = await import("capnweb");
const { Api } = await import("./api.mjs");

const server = http.createServer(async (request, response) => {
  if (request.headers.upgrade?.toLowerCase() === "websocket") return;
  try {
    await nodeHttpBatchRpcResponse(request, response, new Api());
  } catch (err) {
    response.writeHead(500, { "content-type": "text/plain" });
    response.end(String(err?.stack || err));
  }
});
const wss = new WebSocketServer({ server });
wss.on("connection", (ws) => {
  newWebSocketRpcSession(ws, new Api());
});
server.listen(0, "127.0.0.1", () => {
  console.log(`PORT ${server.address().port}`);
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
