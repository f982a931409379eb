// Helpers the test scripts share. A script talks to the Go test with JSON lines: it
// writes events and results on stdout, and asks for what only the test can see (a
// mail the hub logged) with ask(), which waits for one JSON line on stdin.
import { createInterface } from "node:readline";
import { createAuthClient } from "better-auth/client";

export function emit(obj) {
	process.stdout.write(JSON.stringify(obj) + "\n");
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

export async function ask(question) {
	emit({ ask: question });
	const { value, done } = await lines.next();
	if (done) throw new Error(`no answer to ${JSON.stringify(question)}`);
	return JSON.parse(value);
}

export function check(cond, what, detail) {
	if (!cond) {
		throw new Error(`${what}${detail === undefined ? "" : ": " + JSON.stringify(detail)}`);
	}
}

// must returns data of a better-fetch result, or throws with its error.
export function must(what, res) {
	if (res.error) throw new Error(`${what}: ${JSON.stringify(res.error)}`);
	return res.data;
}

// apiError is the part of a client error both servers must agree on.
export function apiError(res) {
	check(res.error, "want an error", res.data);
	return { status: res.error.status, code: res.error.code, message: res.error.message };
}

// bearerClient is Better Auth's official client used as its bearer plugin documents for
// clients without cookies: the set-auth-token of each answer is kept and sent back as
// Authorization: Bearer. It sends the server's own origin, as a web app served there
// would: node's fetch sends Sec-Fetch-Mode, and Better Auth then wants an Origin.
export function bearerClient(baseURL) {
	const c = { token: null };
	c.auth = createAuthClient({
		baseURL,
		fetchOptions: {
			headers: { origin: new URL(baseURL).origin },
			auth: { type: "Bearer", token: () => c.token ?? undefined },
			onSuccess: (ctx) => {
				const t = ctx.response.headers.get("set-auth-token");
				if (t) c.token = t;
			},
		},
	});
	return c;
}

// mailURL asks the test for the next mail to `to` with `text` in it and returns its
// first link.
export async function mailURL(to, text) {
	const { body } = await ask({ mail: to, with: text });
	const m = body.match(/https?:\/\/\S+/);
	check(m, `no link in the mail to ${to}`, body);
	return new URL(m[0]);
}

export function uniqueEmail(tag) {
	return `${tag}-${Date.now()}-${Math.floor(Math.random() * 1e9)}@example.com`;
}
