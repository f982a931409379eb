// Taking a Better Auth database over.
//
//   node takeover.mjs before   on Better Auth (BA_URL): a user signs up and in, asks
//                              for a password reset and an email verification (the
//                              server prints both mails); prints the email, the cookie
//                              a browser holds, the signed bearer token and the raw one
//   node takeover.mjs after    on the hub (HUB_URL) once it took the database over:
//                              that cookie and those tokens still work, the mailed
//                              verification link (VERIFY_URL) and reset token
//                              (RESET_TOKEN) work
import { bearerClient, check, emit, must, uniqueEmail } from "./lib.mjs";

const PW = "correct horse battery", PW2 = "after the takeover";

async function before() {
	const ba = process.env.BA_URL;
	const email = uniqueEmail("takeover");
	const c = bearerClient(ba);
	const up = must("sign up", await c.auth.signUp.email({ email, password: PW, name: "Taken over" }));
	// A browser's session: the cookie exactly as Better Auth set it.
	const res = await fetch(`${ba}/api/auth/sign-in/email`, {
		method: "POST",
		headers: { "content-type": "application/json", origin: new URL(ba).origin },
		body: JSON.stringify({ email, password: PW }),
	});
	check(res.status === 200, `sign in: ${res.status}`);
	const cookie = res.headers.get("set-cookie").split(";")[0];
	must("request password reset", await c.auth.requestPasswordReset({ email, redirectTo: "/reset" }));
	must("send verification email", await c.auth.sendVerificationEmail({ email, callbackURL: "/verified" }));
	emit({ result: { email, cookie, bearer: c.token, token: up.token } });
}

async function after() {
	const hub = process.env.HUB_URL, email = process.env.EMAIL;
	const get = async (headers) => {
		const res = await fetch(`${hub}/api/auth/get-session`, { headers });
		check(res.status === 200, `get-session: ${res.status}`);
		return res.json();
	};
	for (const [what, headers] of [
		["the browser's cookie", { cookie: process.env.COOKIE }],
		["the signed bearer token", { authorization: `Bearer ${process.env.BEARER}` }],
		["the raw token as a bearer", { authorization: `Bearer ${process.env.TOKEN}` }],
	]) {
		const s = await get(headers);
		check(s && s.user.email === email, `${what} after the takeover`, s);
	}

	// The verification link Better Auth mailed (a JWT signed with its secret).
	const v = await fetch(process.env.VERIFY_URL, { redirect: "manual" });
	check(v.status === 302 && v.headers.get("location") === "/verified", `verification link: ${v.status} ${v.headers.get("location")}`);
	const s = await get({ authorization: `Bearer ${process.env.BEARER}` });
	check(s.user.emailVerified === true, "email not verified by Better Auth's link", s);

	// The reset token Better Auth mailed: its link redirects with it, and it works once.
	const token = process.env.RESET_TOKEN;
	const cb = await fetch(`${hub}/api/auth/reset-password/${token}?callbackURL=${encodeURIComponent("/reset")}`, { redirect: "manual" });
	const to = new URL(cb.headers.get("location") ?? "", hub);
	check(cb.status === 302 && to.pathname === "/reset" && to.searchParams.get("token") === token,
		`reset link: ${cb.status} ${cb.headers.get("location")}`);
	const c = bearerClient(hub);
	must("reset password", await c.auth.resetPassword({ newPassword: PW2, token }));
	must("sign in with the new password", await c.auth.signIn.email({ email, password: PW2 }));
	const again = await c.auth.resetPassword({ newPassword: PW, token });
	check(again.error && again.error.code === "INVALID_TOKEN", "Better Auth's reset token worked twice", again);
	emit({ result: "ok" });
}

await { before, after }[process.argv[2]]();
process.exit(0);
