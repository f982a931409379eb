// Arming: the control in the header that arms and disarms the household (always
// in reach), and the settings page with the weekly schedule and quiet hours.

import { html, useEffect, useState } from '../../vendor/htm-preact.js';
import { api } from '../api.js';
import { announce, deviceName, refreshArming, setState, useAppState } from '../store.js';
import { ErrorText, Time, useAction } from './common.js';

const MODES = [
  ['disarmed', 'Disarmed'],
  ['home', 'Home'],
  ['away', 'Away'],
];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const DAY_NAMES = { sun: 'Sun', mon: 'Mon', tue: 'Tue', wed: 'Wed', thu: 'Thu', fri: 'Fri', sat: 'Sat' };

// who says who set the mode: the schedule, this account from a device, or from the browser.
function who(a) {
  if (a.source === 'schedule') return 'by the schedule';
  if (a.changed_by?.device_id) return `from ${deviceName(a.changed_by.device_id)}`;
  if (a.changed_by?.user_id) return 'from the browser';
  return '';
}

// ArmControl shows the household's mode and switches it with one click.
export function ArmControl() {
  const { arming } = useAppState();
  const [set, { busy, error }] = useAction(async (mode) => {
    setState({ arming: await api.setArming(mode) });
    announce(`Now ${mode}.`);
  });
  useEffect(() => {
    if (!arming) refreshArming().catch((err) => console.warn('arming', err));
  }, []);
  return html`
    <div class="arming" role="group" aria-label="Arming" data-mode=${arming?.mode || ''}>
      ${MODES.map(
        ([mode, label]) =>
          html`<button type="button" class=${arming?.mode === mode ? 'primary' : ''} aria-pressed=${arming?.mode === mode}
            disabled=${busy || !arming} onClick=${() => set(mode)}>${label}</button>`,
      )}
      ${arming && html`<span class="muted arming-who">${who(arming)}</span>`}
      <${ErrorText} error=${error} />
    </div>`;
}

// HouseholdArm arms and disarms another's household (household: its owner's user id), for an
// operator or admin of one of its cameras; owner names it.
export function HouseholdArm({ household, owner }) {
  const { sharedArming } = useAppState();
  const arming = sharedArming[household];
  const [set, { busy, error }] = useAction(async (mode) => {
    const a = await api.setArming(mode, household);
    setState((st) => ({ sharedArming: { ...st.sharedArming, [household]: a } }));
    announce(`${owner}'s home is now ${mode}.`);
  });
  useEffect(() => {
    api
      .getArming(household)
      .then((a) => setState((st) => ({ sharedArming: { ...st.sharedArming, [household]: a } })))
      .catch((err) => console.warn('arming', err));
  }, [household]);
  return html`
    <div class="arming household-arming" role="group" aria-label=${`Arming of ${owner}'s home`} data-mode=${arming?.mode || ''}>
      ${MODES.map(
        ([mode, label]) =>
          html`<button type="button" class=${arming?.mode === mode ? 'primary' : ''} aria-pressed=${arming?.mode === mode}
            disabled=${busy || !arming} onClick=${() => set(mode)}>${label}</button>`,
      )}
      <${ErrorText} error=${error} />
    </div>`;
}

// SettingsPage edits the weekly arming schedule and this user's quiet hours.
export function SettingsPage() {
  return html`
    <h1>Settings</h1>
    <${ScheduleEditor} />
    <${QuietHoursEditor} />`;
}

const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

function ScheduleEditor() {
  const { arming } = useAppState();
  const [zone, setZone] = useState('');
  const [rules, setRules] = useState(null);
  useEffect(() => {
    if (!arming) refreshArming().catch((err) => console.warn('arming', err));
  }, []);
  useEffect(() => {
    if (arming && rules === null) {
      setRules(arming.schedule.map((r) => ({ ...r })));
      setZone(arming.schedule.length ? arming.time_zone : browserZone());
    }
  }, [arming]);
  const [save, { busy, error }] = useAction(async (form) => {
    const tz = form.get('time_zone').trim();
    setState({ arming: await api.setArmingSchedule(tz, rules) });
    setZone(tz);
    announce('Schedule saved.');
  });
  if (!arming || rules === null) return html`<p class="loading">Loading…</p>`;
  const change = (i, patch) => setRules(rules.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  const next = arming.next_switch;
  return html`
    <section aria-labelledby="schedule-title">
      <h2 id="schedule-title">Arming schedule</h2>
      <p class="muted">
        Each rule switches the mode on the chosen days at a local time. A change by hand holds until the next switch.
        ${next && html` Next: <strong>${next.mode}</strong> at <${Time} value=${next.at} />.`}
      </p>
      <form id="schedule-form" onSubmit=${(e) => (e.preventDefault(), save(new FormData(e.currentTarget)))}>
        <label for="schedule-zone">Time zone</label>
        <input id="schedule-zone" name="time_zone" required defaultValue=${zone} />
        <ol class="rules">
          ${rules.map(
            (r, i) => html`<li class="rule" key=${i}>
              <fieldset>
                <legend>Rule ${i + 1}</legend>
                ${DAYS.map(
                  (d) => html`<label class="day"><input type="checkbox" name=${`rule-${i}-${d}`} checked=${r.days.includes(d)}
                    onChange=${(e) => change(i, { days: e.currentTarget.checked ? DAYS.filter((x) => x === d || r.days.includes(x)) : r.days.filter((x) => x !== d) })} />
                    ${DAY_NAMES[d]}</label>`,
                )}
                <label>At <input type="time" name=${`rule-${i}-at`} required value=${r.at} onInput=${(e) => change(i, { at: e.currentTarget.value })} /></label>
                <label>switch to
                  <select name=${`rule-${i}-mode`} value=${r.mode} onChange=${(e) => change(i, { mode: e.currentTarget.value })}>
                    ${MODES.map(([m, label]) => html`<option value=${m}>${label}</option>`)}
                  </select></label>
                <button type="button" onClick=${() => setRules(rules.filter((_, j) => j !== i))}>Remove rule ${i + 1}</button>
              </fieldset>
            </li>`,
          )}
        </ol>
        <button type="button" id="add-rule"
          onClick=${() => setRules([...rules, { days: ['mon', 'tue', 'wed', 'thu', 'fri'], at: '08:30', mode: 'away' }])}>Add rule</button>
        <button type="submit" class="primary" disabled=${busy}>Save schedule</button>
        <${ErrorText} error=${error} />
      </form>
    </section>`;
}

function QuietHoursEditor() {
  const [prefs, setPrefs] = useState(null);
  const [load, loadState] = useAction(async () => setPrefs(await api.getNotificationPrefs()));
  useEffect(() => {
    load();
  }, []);
  const [save, { busy, error }] = useAction(async (form) => {
    const on = form.get('quiet-on') === 'on';
    setPrefs(await api.setQuietHours(on ? { start: form.get('quiet-start'), end: form.get('quiet-end') } : null));
    announce(on ? 'Quiet hours saved.' : 'Quiet hours off.');
  });
  if (!prefs) return html`<${ErrorText} error=${loadState.error} />`;
  const q = prefs.quiet_hours;
  return html`
    <section aria-labelledby="quiet-title">
      <h2 id="quiet-title">Quiet hours</h2>
      <p class="muted">No pushes to your phones during quiet hours (${prefs.time_zone}); notifications are still listed.</p>
      <form id="quiet-form" onSubmit=${(e) => (e.preventDefault(), save(new FormData(e.currentTarget)))}>
        <label><input type="checkbox" id="quiet-on" name="quiet-on" defaultChecked=${!!q} /> Quiet hours on</label>
        <label>From <input type="time" id="quiet-start" name="quiet-start" required defaultValue=${q?.start || '22:00'} /></label>
        <label>to <input type="time" id="quiet-end" name="quiet-end" required defaultValue=${q?.end || '07:00'} /></label>
        <button type="submit" class="primary" disabled=${busy}>Save quiet hours</button>
        <${ErrorText} error=${error} />
      </form>
    </section>`;
}
