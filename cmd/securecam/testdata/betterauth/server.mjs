// A real Better Auth server (better-auth + pg) on DATABASE_URL, configured for the
// hub's schema exactly as docs/better-auth.md tells an app team. It prints
// {"listening": url} once it listens, and {"mail": {to, url, token}} for each mail.
import http from "node:http";
import pg from "pg";
import { betterAuth } from "better-auth";
import { bearer } from "better-auth/plugins";
import { toNodeHandler } from "better-auth/node";
import { emit } from "./lib.mjs";

const server = http.createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const baseURL = `http://127.0.0.1:${server.address().port}`;

const mail = (kind) => async ({ user, url, token }) => emit({ mail: { kind, to: user.email, url, token } });

const auth = betterAuth({
	baseURL,
	secret: process.env.BETTER_AUTH_SECRET,
	database: new pg.Pool({ connectionString: process.env.DATABASE_URL }),
	user: {
		modelName: "users",
		fields: { emailVerified: "email_verified", createdAt: "created_at", updatedAt: "updated_at" },
	},
	session: {
		fields: {
			userId: "user_id", expiresAt: "expires_at", ipAddress: "ip_address", userAgent: "user_agent",
			createdAt: "created_at", updatedAt: "updated_at",
		},
	},
	account: {
		fields: {
			userId: "user_id", accountId: "account_id", providerId: "provider_id",
			accessToken: "access_token", refreshToken: "refresh_token", idToken: "id_token",
			accessTokenExpiresAt: "access_token_expires_at", refreshTokenExpiresAt: "refresh_token_expires_at",
			createdAt: "created_at", updatedAt: "updated_at",
		},
	},
	verification: { fields: { expiresAt: "expires_at", createdAt: "created_at", updatedAt: "updated_at" } },
	advanced: { database: { generateId: "uuid" } },
	emailAndPassword: { enabled: true, sendResetPassword: mail("reset") },
	emailVerification: { sendVerificationEmail: mail("verify") },
	plugins: [bearer({ requireSignature: true })],
	trustedOrigins: ["myapp://"],
	rateLimit: { enabled: false },
	telemetry: { enabled: false },
});

server.on("request", toNodeHandler(auth));
emit({ listening: baseURL });
