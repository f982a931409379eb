// Better Auth's official client (createAuthClient from better-auth/client) against
// BASE_URL, in bearer mode (set-auth-token kept, sent back as Authorization: Bearer).
//
//   node client.mjs flow    every email/password call a Better Auth app makes, each
//                           checked; prints {"result": "ok"}
//   node client.mjs errors  prints the errors the client gets for a wrong password, a
//                           duplicate email, a short password and an unknown email, for
//                           the test to compare between the hub and Better Auth
import { apiError, bearerClient, check, emit, mailURL, must, uniqueEmail } from "./lib.mjs";

const base = process.env.BASE_URL;
const PW = "correct horse battery", PW2 = "second password 2", PW3 = "third password 3";

// rawToken is the session token inside a signed "<token>.<signature>" bearer token.
const rawToken = (c) => c.token.split(".")[0];

// follow fetches a mailed link on the server under test (mails name the public URL)
// without following its redirect, and returns the Location.
async function follow(link) {
	const res = await fetch(new URL(link.pathname + link.search, base), { redirect: "manual" });
	check(res.status === 302, `GET ${link.pathname} answered ${res.status}, want 302`, await res.text());
	return res.headers.get("location");
}

async function session(c) {
	return must("get-session", await c.auth.getSession());
}

async function signedIn(email, password) {
	const c = bearerClient(base);
	must(`sign in ${email}`, await c.auth.signIn.email({ email, password }));
	check(c.token, "sign-in answered no set-auth-token");
	return c;
}

async function errors() {
	const c = bearerClient(base);
	const email = uniqueEmail("errors");
	must("sign up", await c.auth.signUp.email({ email, password: PW, name: "Errors" }));
	emit({
		result: {
			wrongPassword: apiError(await c.auth.signIn.email({ email, password: "wrong password" })),
			duplicateEmail: apiError(await c.auth.signUp.email({ email, password: PW, name: "Again" })),
			passwordTooShort: apiError(await c.auth.signUp.email({ email: uniqueEmail("short"), password: "short", name: "S" })),
			unknownEmail: apiError(await c.auth.signIn.email({ email: uniqueEmail("nobody"), password: PW })),
		},
	});
}

async function flow() {
	const email = uniqueEmail("flow");

	// Sign up: a session at once, its token in set-auth-token.
	const a = bearerClient(base);
	const up = must("sign up", await a.auth.signUp.email({ email, password: PW, name: "Flow" }));
	check(up.token && up.user.email === email && up.user.emailVerified === false && up.user.name === "Flow",
		"sign-up answer", up);
	check(a.token && rawToken(a) === up.token, "set-auth-token is the signed session token", a.token);
	let s = await session(a);
	check(s && s.user.id === up.user.id && s.session.token === up.token && s.session.userId === up.user.id,
		"get-session after sign-up", s);

	// Sign out: the token stops working.
	must("sign out", await a.auth.signOut());
	check((await session(a)) === null, "get-session after sign-out is not null");

	// Two devices; one lists the sessions and revokes the other.
	const b = await signedIn(email, PW);
	const c = await signedIn(email, PW);
	const list = must("list sessions", await b.auth.listSessions());
	check(Array.isArray(list) && list.length === 2, "list-sessions shows the two live sessions", list);
	check(list.some((x) => x.token === rawToken(b)), "list-sessions names the caller's session by its token", list);
	const other = list.find((x) => x.token !== rawToken(b));
	must("revoke session", await b.auth.revokeSession({ token: other.token }));
	check((await session(c)) === null, "a revoked session still works");
	check((await session(b)) !== null, "revoking another session ended this one");

	// Profile.
	must("update user", await b.auth.updateUser({ name: "Renamed" }));
	check((await session(b)).user.name === "Renamed", "update-user did not rename");

	// Change password, ending the other sessions: a new session for this client.
	const d = await signedIn(email, PW);
	const wrong = apiError(await b.auth.changePassword({ currentPassword: "not the password", newPassword: PW2 }));
	check(wrong.status === 400 && wrong.code === "INVALID_PASSWORD", "change-password with a wrong current password", wrong);
	const before = b.token;
	const ch = must("change password", await b.auth.changePassword({ currentPassword: PW, newPassword: PW2, revokeOtherSessions: true }));
	check(ch.token && ch.user.id === up.user.id && b.token !== before && rawToken(b) === ch.token,
		"change-password with revokeOtherSessions gives a new session", ch);
	check((await session(d)) === null, "revokeOtherSessions left another session working");
	check((await session(b)) !== null, "the new session after change-password does not work");
	const bad = apiError(await bearerClient(base).auth.signIn.email({ email, password: PW }));
	check(bad.code === "INVALID_EMAIL_OR_PASSWORD", "the old password still signs in", bad);

	// Reset: the mailed link redirects to the app with the token; the token sets a new
	// password once, and the hub ends every session.
	must("request password reset", await a.auth.requestPasswordReset({ email, redirectTo: "/reset" }));
	const resetLink = await mailURL(email, "/api/auth/reset-password/");
	check(resetLink.pathname.startsWith("/api/auth/reset-password/") && resetLink.searchParams.get("callbackURL") === "/reset",
		"reset link is Better Auth's", resetLink.href);
	const to = new URL(await follow(resetLink), base);
	const token = to.searchParams.get("token");
	check(to.pathname === "/reset" && token, "reset link redirects to the callback with the token", to.href);
	must("reset password", await a.auth.resetPassword({ newPassword: PW3, token }));
	const reused = apiError(await a.auth.resetPassword({ newPassword: PW, token }));
	check(reused.status === 400 && reused.code === "INVALID_TOKEN", "a reset token works twice", reused);
	check((await session(b)) === null, "a session survived the password reset");
	const e = await signedIn(email, PW3);

	// Email verification through the mailed link.
	must("send verification email", await e.auth.sendVerificationEmail({ email, callbackURL: "/verified" }));
	const verifyLink = await mailURL(email, "callbackURL=%2Fverified");
	check(verifyLink.pathname === "/api/auth/verify-email", "verification link is Better Auth's", verifyLink.href);
	check((await follow(verifyLink)) === "/verified", "verification redirects to the callback");
	check((await session(e)).user.emailVerified === true, "email not verified after the link");
	const again = apiError(await e.auth.sendVerificationEmail({ email }));
	check(again.code === "EMAIL_ALREADY_VERIFIED", "send-verification-email for a verified email", again);

	// Revoke the others, then all.
	const f = await signedIn(email, PW3);
	must("revoke other sessions", await e.auth.revokeOtherSessions());
	check((await session(f)) === null, "revoke-other-sessions left one working");
	check((await session(e)) !== null, "revoke-other-sessions ended the caller's");
	must("revoke sessions", await e.auth.revokeSessions());
	check((await session(e)) === null, "revoke-sessions left the caller's working");
	emit({ result: "ok" });
}

const modes = { flow, errors };
await modes[process.argv[2]]();
process.exit(0);
