// A client that keeps its session as Better Auth's Expo plugin (@better-auth/expo
// 1.7 client) does, driven through the official client against BASE_URL: the
// better-auth* cookies of each answer are stored (getSetCookie), replayed in a cookie
// header with expo-origin on every request (getCookie), and forgotten on sign-out.
// Prints {"result": {"cookie": <the cookie header it would send>}} for the test to
// open /ws with.
import { createAuthClient } from "better-auth/client";
import { parseSetCookieHeader } from "better-auth/cookies/utils";
import { apiError, check, emit, must, uniqueEmail } from "./lib.mjs";

const base = process.env.BASE_URL;
const scheme = "myapp";
let stored = "{}"; // what the plugin keeps in expo-secure-store

// getSetCookie and getCookie as in @better-auth/expo's client.
function getSetCookie(header, prevCookie) {
	const parsed = parseSetCookieHeader(header);
	const toSetCookie = JSON.parse(prevCookie ?? "{}");
	parsed.forEach((cookie, key) => {
		const expiresAt = cookie.expires;
		const maxAge = cookie["max-age"];
		if (maxAge !== undefined && Number(maxAge) <= 0) {
			delete toSetCookie[key];
			return;
		}
		const expires = maxAge ? new Date(Date.now() + Number(maxAge) * 1e3) : expiresAt ? new Date(String(expiresAt)) : null;
		if (expires && expires.getTime() <= Date.now()) {
			delete toSetCookie[key];
			return;
		}
		toSetCookie[key] = { value: cookie.value, expires: expires ? expires.toISOString() : null };
	});
	return JSON.stringify(toSetCookie);
}

function getCookie(cookie) {
	const parsed = JSON.parse(cookie ?? "{}");
	return Object.entries(parsed).reduce((acc, [key, value]) => {
		if (value.expires && new Date(value.expires) < new Date()) return acc;
		return acc ? `${acc}; ${key}=${value.value}` : `${key}=${value.value}`;
	}, "");
}

function hasBetterAuthCookies(header) {
	for (const name of parseSetCookieHeader(header).keys()) {
		if (name.replace(/^__Secure-/, "").startsWith("better-auth")) return true;
	}
	return false;
}

const expoPlugin = {
	id: "expo",
	fetchPlugins: [{
		id: "expo",
		name: "Expo",
		hooks: {
			async onSuccess(context) {
				const setCookie = context.response.headers.get("set-cookie");
				if (setCookie && hasBetterAuthCookies(setCookie)) stored = getSetCookie(setCookie, stored);
				if (new URL(context.request.url).pathname.endsWith("/sign-out")) stored = "{}";
			},
		},
		async init(url, options) {
			options = options || {};
			options.credentials = "omit";
			const cookie = getCookie(stored);
			options.headers = {
				...options.headers,
				...(cookie ? { cookie } : {}),
				"expo-origin": `${scheme}://`,
				"x-skip-oauth-proxy": "true",
			};
			return { url, options };
		},
	}],
};

const auth = createAuthClient({ baseURL: base, plugins: [expoPlugin] });
const email = uniqueEmail("expo");
const PW = "correct horse battery";

const up = must("sign up", await auth.signUp.email({ email, password: PW, name: "Expo" }));
check(JSON.parse(stored)["better-auth.session_token"], "no session cookie kept after sign-up", stored);
let s = must("get-session", await auth.getSession());
check(s && s.user.id === up.user.id, "get-session with the kept cookie", s);

must("sign out", await auth.signOut());
check(stored === "{}", "cookies kept after sign-out", stored);
must("sign in", await auth.signIn.email({ email, password: PW }));
must("update user", await auth.updateUser({ name: "Expo renamed" })); // a POST with the cookie: origin checked
s = must("get-session", await auth.getSession());
check(s && s.user.name === "Expo renamed", "get-session after update-user", s);

// The same cookie without expo-origin: the origin check refuses the state change.
const res = await fetch(`${base}/api/auth/update-user`, {
	method: "POST",
	headers: { cookie: getCookie(stored), "content-type": "application/json" },
	body: JSON.stringify({ name: "Mallory" }),
});
const body = await res.json();
check(res.status === 403 && body.code === "MISSING_OR_NULL_ORIGIN", "a cookie POST without origin", { status: res.status, body });
const other = apiError(await createAuthClient({
	baseURL: base,
	fetchOptions: { headers: { cookie: getCookie(stored), "expo-origin": "otherapp://" } },
}).updateUser({ name: "Mallory" }));
check(other.status === 403 && other.code === "INVALID_ORIGIN", "a cookie POST from another app", other);

emit({ result: { cookie: getCookie(stored) } });
process.exit(0);
