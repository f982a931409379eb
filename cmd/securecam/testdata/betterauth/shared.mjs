// The hub (HUB_URL, SECURECAM_BETTER_AUTH_SHARED=true) and a real Better Auth server
// (BA_URL, server.mjs) on one database: users, passwords and sessions made on either
// side work on the other, and revocation on either side is seen by both. Prints
// {"result": {"baBearer": <a live session Better Auth made, signed>}}.
import { apiError, bearerClient, check, emit, must, uniqueEmail } from "./lib.mjs";

const hub = process.env.HUB_URL, ba = process.env.BA_URL;
const PW = "correct horse battery", PW2 = "changed password 2";

async function signedIn(base, email, password) {
	const c = bearerClient(base);
	must(`sign in ${email} on ${base}`, await c.auth.signIn.email({ email, password }));
	return c;
}

// sessionOn asks base for the session of a token another client holds.
async function sessionOn(base, token) {
	const c = bearerClient(base);
	c.token = token;
	return must(`get-session on ${base}`, await c.auth.getSession());
}

async function cookieSessionOn(base, token) {
	const res = await fetch(`${base}/api/auth/get-session`, {
		headers: { cookie: `better-auth.session_token=${encodeURIComponent(token)}` },
	});
	check(res.status === 200, `cookie get-session on ${base}: ${res.status}`);
	return res.json();
}

// Users: made on Better Auth, signs in on the hub; made on the hub, signs in on Better Auth.
const a = uniqueEmail("made-by-better-auth"), b = uniqueEmail("made-by-hub");
must("sign up on Better Auth", await bearerClient(ba).auth.signUp.email({ email: a, password: PW, name: "A" }));
must("sign up on the hub", await bearerClient(hub).auth.signUp.email({ email: b, password: PW, name: "B" }));
const aOnHub = await signedIn(hub, a, PW);
const bOnBA = await signedIn(ba, b, PW);

// Sessions: each side's token (signed, as set-auth-token gives it) works on the other,
// as a bearer token and as a cookie.
const aOnBA = await signedIn(ba, a, PW);
for (const [base, c, email] of [[hub, aOnBA, a], [ba, aOnHub, a], [hub, bOnBA, b]]) {
	const s = await sessionOn(base, c.token);
	check(s && s.user.email === email, `a session made elsewhere on ${base}`, s);
	const k = await cookieSessionOn(base, c.token);
	check(k && k.user.email === email, `a cookie made elsewhere on ${base}`, k);
}

// Revocation: a sign-out on Better Auth ends the session on the hub, and the other way.
must("sign out on Better Auth", await aOnBA.auth.signOut());
check((await sessionOn(hub, aOnBA.token)) === null, "the hub accepts a session Better Auth signed out");
must("sign out on the hub", await aOnHub.auth.signOut());
check((await sessionOn(ba, aOnHub.token)) === null, "Better Auth accepts a session the hub signed out");

// The hub lists a session Better Auth made and revokes it; Better Auth sees that.
const bOnHub = await signedIn(hub, b, PW);
const list = must("list sessions on the hub", await bOnHub.auth.listSessions());
const theirs = list.find((x) => x.token === bOnBA.token.split(".")[0]);
check(theirs, "the hub's list-sessions shows Better Auth's session by its token", list);
must("revoke on the hub", await bOnHub.auth.revokeSession({ token: theirs.token }));
check((await sessionOn(ba, bOnBA.token)) === null, "Better Auth accepts a session the hub revoked");

// Passwords: changed on the hub, Better Auth signs in with the new one only; changed on
// Better Auth, the hub does.
must("change password on the hub", await bOnHub.auth.changePassword({ currentPassword: PW, newPassword: PW2 }));
await signedIn(ba, b, PW2);
check(apiError(await bearerClient(ba).auth.signIn.email({ email: b, password: PW })).code === "INVALID_EMAIL_OR_PASSWORD",
	"Better Auth signs in with the password the hub replaced");
const aOnBA2 = await signedIn(ba, a, PW);
must("change password on Better Auth", await aOnBA2.auth.changePassword({ currentPassword: PW, newPassword: PW2 }));
await signedIn(hub, a, PW2);

// An unsigned token of a session Better Auth stored raw is refused by the hub (as by
// Better Auth with requireSignature): reading the table is not enough to use it.
const res = await fetch(`${hub}/api/auth/get-session`, { headers: { authorization: `Bearer ${aOnBA2.token.split(".")[0]}` } });
check(res.status === 200 && (await res.json()) === null, "the hub took an unsigned raw token");

emit({ result: { baBearer: aOnBA2.token } });
process.exit(0);
