// Account screens: sign in, sign up, forgot password, and the landing pages of
// the verification and reset links sent by email.

import { html, useEffect, useState } from '../../vendor/htm-preact.js';
import { api } from '../api.js';
import { rememberedEmail, signedIn, signedOut } from '../store.js';
import { ErrorText, Link, navigate, useAction } from './common.js';

const formData = (e) => Object.fromEntries(new FormData(e.currentTarget));

// withNext keeps the page the user wanted across the sign-in screens.
const withNext = (path, next) => (next && next !== '/' ? `${path}?next=${encodeURIComponent(next)}` : path);

// safeNext accepts only a path on this site.
const safeNext = (next) => (next && next.startsWith('/') && !next.startsWith('//') ? next : '/');

export function SignIn({ next }) {
  const [submit, { busy, error }] = useAction(async (e) => {
    const { email, password } = formData(e);
    const { user } = await api.signIn(email, password);
    signedIn(user);
    navigate(safeNext(next), { replace: true });
  });
  return html`
    <section class="auth">
      <h1 id="sign-in-title">Sign in</h1>
      <form id="sign-in-form" aria-labelledby="sign-in-title" onSubmit=${(e) => (e.preventDefault(), submit(e))}>
        <label for="sign-in-email">Email</label>
        <input id="sign-in-email" name="email" type="email" autocomplete="username" required defaultValue=${rememberedEmail()} />
        <label for="sign-in-password">Password</label>
        <input id="sign-in-password" name="password" type="password" autocomplete="current-password" required />
        <${ErrorText} error=${error} />
        <button type="submit" class="primary" disabled=${busy}>Sign in</button>
      </form>
      <p><${Link} href=${withNext('/sign-up', next)}>Create an account<//> · <${Link} href="/forgot-password">Forgot password?<//></p>
    </section>`;
}

export function SignUp({ next }) {
  const [submit, { busy, error }] = useAction(async (e) => {
    const { name, email, password } = formData(e);
    const { user } = await api.signUp(email, password, name).catch((err) => {
      throw err.code === 'conflict' ? new Error('An account with this email already exists. Sign in, or reset its password.') : err;
    });
    signedIn(user);
    navigate(safeNext(next), { replace: true });
  });
  return html`
    <section class="auth">
      <h1 id="sign-up-title">Create an account</h1>
      <form id="sign-up-form" aria-labelledby="sign-up-title" onSubmit=${(e) => (e.preventDefault(), submit(e))}>
        <label for="sign-up-name">Name</label>
        <input id="sign-up-name" name="name" autocomplete="name" required />
        <label for="sign-up-email">Email</label>
        <input id="sign-up-email" name="email" type="email" autocomplete="username" required />
        <label for="sign-up-password">Password</label>
        <input
          id="sign-up-password"
          name="password"
          type="password"
          autocomplete="new-password"
          required
          minlength="8"
          maxlength="128"
          aria-describedby="sign-up-password-hint"
        />
        <p id="sign-up-password-hint" class="hint">At least 8 characters.</p>
        <${ErrorText} error=${error} />
        <button type="submit" class="primary" disabled=${busy}>Create account</button>
      </form>
      <p>Already have an account? <${Link} href=${withNext('/sign-in', next)}>Sign in<//></p>
    </section>`;
}

export function ForgotPassword() {
  const [sent, setSent] = useState(false);
  const [submit, { busy, error }] = useAction(async (e) => {
    await api.requestPasswordReset(formData(e).email);
    setSent(true);
  });
  return html`
    <section class="auth">
      <h1 id="forgot-title">Reset your password</h1>
      ${sent
        ? html`<p role="status">If an account exists for that address, an email with a reset link is on its way.</p>`
        : html`
            <form id="forgot-form" aria-labelledby="forgot-title" onSubmit=${(e) => (e.preventDefault(), submit(e))}>
              <label for="forgot-email">Email</label>
              <input id="forgot-email" name="email" type="email" autocomplete="username" required defaultValue=${rememberedEmail()} />
              <${ErrorText} error=${error} />
              <button type="submit" class="primary" disabled=${busy}>Send reset link</button>
            </form>`}
      <p><${Link} href="/sign-in">Back to sign in<//></p>
    </section>`;
}

// useLinkToken reads ?token= once and removes it from the address bar and the
// history, so the secret does not linger there.
function useLinkToken() {
  const [token] = useState(() => new URLSearchParams(location.search).get('token') || '');
  useEffect(() => history.replaceState(null, '', location.pathname), []);
  return token;
}

export function ResetPassword() {
  const token = useLinkToken();
  const [done, setDone] = useState(false);
  const [submit, { busy, error }] = useAction(async (e) => {
    await api.resetPassword(token, formData(e).password);
    signedOut(); // a reset ends every session of the account
    setDone(true);
  });
  return html`
    <section class="auth">
      <h1 id="reset-title">Choose a new password</h1>
      ${!token
        ? html`<p class="error" role="alert">This reset link is incomplete. Ask for a new one.</p>`
        : done
          ? html`<p role="status">Your password was changed and every device was signed out.</p>`
          : html`
              <form id="reset-form" aria-labelledby="reset-title" onSubmit=${(e) => (e.preventDefault(), submit(e))}>
                <label for="reset-password">New password</label>
                <input
                  id="reset-password"
                  name="password"
                  type="password"
                  autocomplete="new-password"
                  required
                  minlength="8"
                  maxlength="128"
                  aria-describedby="reset-password-hint"
                />
                <p id="reset-password-hint" class="hint">At least 8 characters.</p>
                <${ErrorText} error=${error} />
                <button type="submit" class="primary" disabled=${busy}>Set new password</button>
              </form>`}
      <p><${Link} href="/sign-in">Sign in<//></p>
    </section>`;
}

export function VerifyEmail() {
  const token = useLinkToken();
  const [result, setResult] = useState(token ? null : { error: new Error('This verification link is incomplete.') });
  useEffect(() => {
    if (!token) return;
    api.verifyEmail(token).then(
      () => setResult({ ok: true }),
      (error) =>
        setResult({
          error:
            error.status === 400
              ? new Error('This verification link does not work any more: it was already used, has expired, or was copied incompletely. Sign in and ask for a new one.')
              : error,
        }),
    );
  }, [token]);
  return html`
    <section class="auth">
      <h1>Verify your email</h1>
      ${!result
        ? html`<p role="status">Verifying…</p>`
        : result.ok
          ? html`<p role="status">Your email address is verified.</p>`
          : html`<${ErrorText} error=${result.error} />`}
      <p><${Link} href="/">Continue to SecureCam<//></p>
    </section>`;
}
