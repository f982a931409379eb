// The app shell: who is signed in, this tab's device and socket, the header
// with navigation and connection state, the page for the current path, and
// the aria-live region that announces status changes.

import { html, useEffect, useRef, useState } from '../../vendor/htm-preact.js';
import { api } from '../api.js';
import { Socket } from '../socket.js';
import { connectState, defaultDeviceName, ensureDevice, forgetDevice, hasDevice, signedIn, signedOut, useAppState } from '../store.js';
import { ArmControl, SettingsPage } from './arming.js';
import { ForgotPassword, ResetPassword, SignIn, SignUp, VerifyEmail } from './auth.js';
import { CameraPage } from './camera-mode.js';
import { ErrorText, Link, navigate, useAction, useLocation } from './common.js';
import { DevicesPage } from './devices.js';
import { EventsPage } from './events.js';
import { LinksPage } from './links.js';
import { LivePage } from './live.js';
import { NotificationsPage } from './notifications.js';
import { AcceptSharePage, SharingPage } from './sharing.js';
import { onOpenRequest } from '../webpush.js';

const PUBLIC = {
  '/sign-in': SignIn,
  '/sign-up': SignUp,
  '/forgot-password': ForgotPassword,
  '/reset-password': ResetPassword,
  '/verify-email': VerifyEmail,
};

const TITLES = {
  '/': 'Devices',
  '/devices': 'Devices',
  '/sign-in': 'Sign in',
  '/sign-up': 'Create an account',
  '/forgot-password': 'Reset your password',
  '/reset-password': 'Choose a new password',
  '/verify-email': 'Verify your email',
  '/camera': 'Camera mode',
  '/live': 'Live',
  '/events': 'Events',
  '/links': 'Links',
  '/notifications': 'Notifications',
  '/settings': 'Settings',
  '/sharing': 'Sharing',
  '/shares': 'Accept a shared camera',
};

export function App() {
  const s = useAppState();
  const { path, query } = useLocation();
  const [bootError, setBootError] = useState(null);
  useEffect(() => {
    api.me().then(signedIn, (err) => (err.status === 401 ? signedOut() : setBootError(err)));
  }, []);
  // Signed out, every private route shows the sign-in form, and is titled so.
  const shown = s.authChecked && !s.user && !PUBLIC[path] ? '/sign-in' : path;
  useEffect(() => {
    document.title = `${TITLES[shown] || TITLES[`/${shown.split('/')[1]}`] || 'SecureCam'} · SecureCam Hub`;
  }, [shown]);

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
    body = html`<main id="main" tabindex="-1" class="narrow"><${Product} /><${Page} next=${query.get('next')} /></main>`;
  } else if (!s.user) {
    body = html`<main id="main" tabindex="-1" class="narrow"><${Product} /><${SignIn} next=${path + location.search} /></main>`;
  } else {
    body = html`<${Session} key=${s.user.id} user=${s.user} path=${PUBLIC[path] ? '/' : path} />`;
  }
  return html`${body}
    <div id="announcer" class="visually-hidden" role="status" aria-live="polite">${s.announcement}</div>`;
}

// Product says what this is, above the account screens.
function Product() {
  return html`<p class="product">
    <img src="/icon.svg" alt="" width="32" height="32" />
    <span><strong>SecureCam Hub</strong><br />Home security cameras from spare phones, on your own server.</span>
  </p>`;
}

// Session connects this tab as a device of the signed-in user: a camera on
// /camera, a viewer everywhere else.
function Session({ user, path }) {
  const role = path === '/camera' ? 'camera' : 'viewer';
  const [conn, setConn] = useState(null);
  const [socketState, setSocketState] = useState({ status: 'connecting' });
  const [error, setError] = useState(null);
  const [generation, setGeneration] = useState(0);
  // A new camera is named by its user before it is registered.
  const [name, setName] = useState(null);
  const asking = role === 'camera' && name === null && !hasDevice(user, role);

  useEffect(() => {
    if (asking) return;
    let socket = null;
    let cancelled = false;
    const stops = [];
    setConn(null);
    setError(null);
    ensureDevice(user, role, name || undefined).then(
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
  }, [user.id, role, generation, asking]);

  // A clicked push alert asks this tab to show its event.
  useEffect(() => onOpenRequest((url) => navigate(url)), []);

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
      ${role === 'viewer' && conn && html`<${ArmControl} />`}
      <span class="conn" role="status" data-status=${socketState.status}>${socketText(socketState)}</span>
      <button type="button" id="sign-out" disabled=${signOutState.busy} onClick=${() => signOut()}>Sign out</button>
    </header>
    <${ErrorText} error=${signOutState.error} />
    ${user.email_verified === false && html`<${VerifyBanner} user=${user} />`}
    <main id="main" tabindex="-1">
      ${socketState.status === 'replaced'
        ? html`<section class="replaced" role="alert" aria-labelledby="replaced-title">
            <h1 id="replaced-title">Replaced by another tab</h1>
            <p>This ${role} is now connected from another tab or window of this browser, so this one stopped.</p>
            <button type="button" class="primary" id="take-over" onClick=${() => setGeneration((g) => g + 1)}>Take over</button>
          </section>`
        : asking
        ? html`<${NameCamera} onName=${setName} />`
        : error
        ? html`<${ErrorText} error=${error} /><button type="button" onClick=${() => setGeneration((g) => g + 1)}>Try again</button>`
        : conn
          ? html`<${Page} path=${path} conn=${conn} />`
          : html`<p class="loading" role="status">Setting up this ${role}…</p>`}
    </main>`;
}

// NameCamera asks for the name of the camera this browser is about to become.
function NameCamera({ onName }) {
  const input = useRef(null);
  useEffect(() => input.current?.focus(), []);
  return html`<section class="narrow-section" aria-labelledby="name-camera-title">
    <h1 id="name-camera-title">Name this camera</h1>
    <form id="name-camera-form" onSubmit=${(e) => (e.preventDefault(), onName(new FormData(e.currentTarget).get('name').trim()))}>
      <label for="new-camera-name">Where is it? (for example “Front door”)</label>
      <input ref=${input} id="new-camera-name" name="name" required maxlength="100" defaultValue=${defaultDeviceName('camera')} />
      <button type="submit" class="primary">Start camera</button>
    </form>
  </section>`;
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
      return html`<${EventsPage} eventId=${id} />`;
    case '/links':
      return html`<${LinksPage} device=${conn.device} />`;
    case '/notifications':
      return html`<${NotificationsPage} device=${conn.device} />`;
    case '/settings':
      return html`<${SettingsPage} />`;
    case '/sharing':
      return html`<${SharingPage} />`;
    case '/shares':
      if (id === 'accept') return html`<${AcceptSharePage} token=${new URLSearchParams(location.search).get('token')} />`;
    // falls through: /shares/… is only the accept page
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
      <${Link} href="/sharing">Sharing<//>
      <${Link} href="/settings">Settings<//>
    </nav>`;
}

function socketText(st) {
  switch (st.status) {
    case 'open':
      return 'Connected';
    case 'retrying':
      return 'Offline, reconnecting…';
    case 'replaced':
      return 'Replaced by another tab';
    case 'stopped':
      return '';
    default:
      return 'Connecting…';
  }
}

// VerifyBanner reminds of an unverified address until it is verified or
// dismissed (remembered in this browser).
function VerifyBanner({ user }) {
  const key = `securecam.verify-dismissed.${user.id}`;
  const [dismissed, setDismissed] = useState(() => localStorage.getItem(key) === '1');
  const [sent, setSent] = useState(false);
  const [resend, { busy, error }] = useAction(async () => {
    await api.requestVerifyEmail();
    setSent(true);
  });
  if (dismissed) return null;
  const dismiss = () => {
    localStorage.setItem(key, '1');
    setDismissed(true);
    document.getElementById('main')?.focus();
  };
  return html`
    <div class="banner" id="verify-banner">
      ${sent
        ? html`<span role="status">We sent a new link to ${user.email}.</span>`
        : html`<span>We mailed a link to verify ${user.email}.</span>
            <button type="button" disabled=${busy} onClick=${() => resend()}>Send the link again</button>`}
      <button type="button" class="dismiss" aria-label="Dismiss the verification reminder" onClick=${dismiss}>Dismiss</button>
      <${ErrorText} error=${error} />
    </div>`;
}
