// The app shell: who is signed in, this tab's device and socket, the header
// with navigation and connection state, the page for the current path, and
// the aria-live region that announces status changes.

import { html, useEffect, useState } from '../../vendor/htm-preact.js';
import { api } from '../api.js';
import { Socket } from '../socket.js';
import { connectState, ensureDevice, forgetDevice, signedIn, signedOut, useAppState } from '../store.js';
import { ForgotPassword, ResetPassword, SignIn, SignUp, VerifyEmail } from './auth.js';
import { CameraPage } from './camera-mode.js';
import { ErrorText, Link, navigate, useAction, useLocation } from './common.js';
import { DevicesPage } from './devices.js';
import { EventsPage } from './events.js';
import { LinksPage } from './links.js';
import { LivePage } from './live.js';
import { NotificationsPage } from './notifications.js';

const PUBLIC = {
  '/sign-in': SignIn,
  '/sign-up': SignUp,
  '/forgot-password': ForgotPassword,
  '/reset-password': ResetPassword,
  '/verify-email': VerifyEmail,
};

const TITLES = {
  '/': 'Devices',
  '/sign-in': 'Sign in',
  '/sign-up': 'Create an account',
  '/camera': 'Camera mode',
  '/live': 'Live',
  '/events': 'Events',
  '/links': 'Links',
  '/notifications': 'Notifications',
};

export function App() {
  const s = useAppState();
  const { path, query } = useLocation();
  const [bootError, setBootError] = useState(null);
  useEffect(() => {
    api.me().then(signedIn, (err) => (err.status === 401 ? signedOut() : setBootError(err)));
  }, []);
  useEffect(() => {
    document.title = `${TITLES[path] || TITLES[`/${path.split('/')[1]}`] || 'SecureCam'} · SecureCam Hub`;
  }, [path]);

  let body;
  if (bootError) {
    body = html`<main id="main" tabindex="-1">
      <${ErrorText} error=${bootError} />
      <button type="button" onClick=${() => location.reload()}>Try again</button>
    </main>`;
  } else if (!s.authChecked) {
    body = html`<p class="loading">Loading…</p>`;
  } else if (PUBLIC[path] && !(s.user && (path === '/sign-in' || path === '/sign-up'))) {
    const Page = PUBLIC[path];
    body = html`<main id="main" tabindex="-1" class="narrow"><${Page} next=${query.get('next')} /></main>`;
  } else if (!s.user) {
    body = html`<main id="main" tabindex="-1" class="narrow"><${SignIn} next=${path} /></main>`;
  } else {
    body = html`<${Session} key=${s.user.id} user=${s.user} path=${PUBLIC[path] ? '/' : path} />`;
  }
  return html`${body}
    <div id="announcer" class="visually-hidden" role="status" aria-live="polite">${s.announcement}</div>`;
}

// Session connects this tab as a device of the signed-in user: a camera on
// /camera, a viewer everywhere else.
function Session({ user, path }) {
  const role = path === '/camera' ? 'camera' : 'viewer';
  const [conn, setConn] = useState(null);
  const [socketState, setSocketState] = useState({ status: 'connecting' });
  const [error, setError] = useState(null);
  const [generation, setGeneration] = useState(0);

  useEffect(() => {
    let socket = null;
    let cancelled = false;
    const stops = [];
    setConn(null);
    setError(null);
    ensureDevice(user, role).then(
      (device) => {
        if (cancelled) return;
        socket = new Socket(device.id);
        stops.push(connectState(socket));
        stops.push(
          socket.watch((st) => {
            setSocketState(st);
            if (st.status === 'unauthorized') signedOut();
            if (st.status === 'forbidden') recheckAccess();
          }),
        );
        socket.start();
        setConn({ device, socket });
      },
      (err) => !cancelled && (err.status === 401 ? signedOut() : setError(err)),
    );
    // 4003: signed out elsewhere (→ sign in) or this device was deleted (→ register again).
    const recheckAccess = () =>
      api.me().then(
        () => {
          forgetDevice(user, role);
          setGeneration((g) => g + 1);
        },
        (err) => (err.status === 401 ? signedOut() : setError(err)),
      );
    return () => {
      cancelled = true;
      stops.forEach((stop) => stop());
      socket?.stop();
    };
  }, [user.id, role, generation]);

  const [signOut, signOutState] = useAction(async () => {
    try {
      await api.signOut();
    } catch (err) {
      if (err.status !== 401) throw err;
    }
    signedOut();
    navigate('/sign-in', { replace: true });
  });

  return html`
    <header class="top">
      <a class="skip" href="#main">Skip to content</a>
      <span class="brand">SecureCam</span>
      ${role === 'viewer' && html`<${Nav} />`}
      <span class="conn" data-status=${socketState.status}>${socketText(socketState)}</span>
      <button type="button" id="sign-out" disabled=${signOutState.busy} onClick=${() => signOut()}>Sign out</button>
    </header>
    <${ErrorText} error=${signOutState.error} />
    ${socketState.status === 'replaced' &&
    html`<div class="banner" role="alert">
      This ${role} is now connected from another tab or window, so this one stopped.
      <button type="button" onClick=${() => setGeneration((g) => g + 1)}>Use it here</button>
    </div>`}
    ${user.email_verified === false && html`<${VerifyBanner} user=${user} />`}
    <main id="main" tabindex="-1">
      ${error
        ? html`<${ErrorText} error=${error} /><button type="button" onClick=${() => setGeneration((g) => g + 1)}>Try again</button>`
        : conn
          ? html`<${Page} path=${path} conn=${conn} />`
          : html`<p class="loading" role="status">Setting up this ${role}…</p>`}
    </main>`;
}

function Page({ path, conn }) {
  const [, first, id] = path.split('/');
  switch (`/${first}`) {
    case '/':
    case '/devices':
      return html`<${DevicesPage} />`;
    case '/camera':
      return html`<${CameraPage} conn=${conn} />`;
    case '/live':
      return html`<${LivePage} conn=${conn} cameraId=${id} />`;
    case '/events':
      return html`<${EventsPage} />`;
    case '/links':
      return html`<${LinksPage} device=${conn.device} />`;
    case '/notifications':
      return html`<${NotificationsPage} />`;
    default:
      return html`<h1>Page not found</h1>
        <p><${Link} href="/">Go to your devices<//></p>`;
  }
}

function Nav() {
  const s = useAppState();
  const n = s.unread.length;
  return html`
    <nav aria-label="Main">
      <${Link} href="/">Devices<//>
      <${Link} href="/live">Live<//>
      <${Link} href="/events">Events<//>
      <${Link} href="/links">Links<//>
      <${Link} href="/notifications" id="nav-notifications">
        Notifications${n > 0 && html` <span class="badge" id="unread-count">${n}<span class="visually-hidden"> unread</span></span>`}
      <//>
    </nav>`;
}

function socketText(st) {
  switch (st.status) {
    case 'open':
      return 'Connected';
    case 'retrying':
      return 'Offline, reconnecting…';
    case 'replaced':
      return 'Disconnected';
    case 'stopped':
      return '';
    default:
      return 'Connecting…';
  }
}

function VerifyBanner({ user }) {
  const [sent, setSent] = useState(false);
  const [resend, { busy, error }] = useAction(async () => {
    await api.requestVerifyEmail();
    setSent(true);
  });
  return html`
    <div class="banner">
      ${sent
        ? html`<span role="status">We sent a new link to ${user.email}.</span>`
        : html`Please verify your email address (${user.email}).
            <button type="button" disabled=${busy} onClick=${() => resend()}>Send the link again</button>`}
      <${ErrorText} error=${error} />
    </div>`;
}
