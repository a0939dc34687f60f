// A real HTTP server on loopback that records every request and plays scripted replies in order
// (then the default reply): for the request shapes, retries and error mapping.
import { createServer } from "node:http";

export class Recorder {
  constructor() {
    this.requests = [];
    this.replies = [];
    this.defaultReply = { status: 200, body: { id: "obj_1", object: "thing" } };
    this.server = createServer((request, response) => this.handle(request, response));
  }

  async start() {
    await new Promise((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.baseUrl = `http://127.0.0.1:${this.server.address().port}`;
    return this;
  }

  /** Replies for the next requests: {status, body, headers} or {drop: true} (close, no answer). */
  script(...replies) {
    this.replies.push(...replies);
  }

  get last() {
    return this.requests[this.requests.length - 1];
  }

  handle(request, response) {
    const chunks = [];
    request.on("data", (chunk) => chunks.push(chunk));
    request.on("end", () => {
      const raw = Buffer.concat(chunks);
      const url = new URL(request.url, "http://recorder");
      this.requests.push({
        method: request.method,
        path: url.pathname,
        query: [...url.searchParams],
        headers: request.headers,
        body: raw.length ? JSON.parse(raw.toString("utf8")) : undefined,
        raw,
      });
      const reply = this.replies.length ? this.replies.shift() : this.defaultReply;
      if (reply.drop) {
        request.socket.destroy();
        return;
      }
      const payload = reply.body === undefined || reply.body === null ? "" : JSON.stringify(reply.body);
      response.writeHead(reply.status ?? 200, {
        "Content-Type": "application/json",
        "Request-Id": `req_${this.requests.length}`,
        ...reply.headers,
      });
      response.end(payload);
    });
  }

  async close() {
    this.server.closeAllConnections?.();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

export async function recorder() {
  return new Recorder().start();
}
