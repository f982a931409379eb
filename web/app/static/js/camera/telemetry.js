// Camera mode, telemetry: the battery and network the camera reports to its
// viewers, every minute and whenever either changes.

const TELEMETRY_MS = 60_000;

// watchTelemetry calls send every minute and when the network or the battery
// changes, until signal aborts.
export function watchTelemetry(send, signal) {
  const timer = setInterval(send, TELEMETRY_MS);
  signal.addEventListener('abort', () => clearInterval(timer));
  navigator.connection?.addEventListener('change', send, { signal });
  navigator
    .getBattery?.()
    .then((b) => {
      for (const e of ['levelchange', 'chargingchange']) b.addEventListener(e, send, { signal });
    })
    .catch(() => {});
}

// readTelemetry returns the data of a telemetry message, or null when the
// browser tells neither battery nor network.
export async function readTelemetry() {
  const data = {};
  const battery = await navigator.getBattery?.().catch(() => null);
  if (battery) {
    data.battery = Math.round(battery.level * 100);
    data.charging = battery.charging;
  }
  const c = navigator.connection;
  const network = c && (c.type && c.type !== 'unknown' ? c.type : c.effectiveType);
  if (network) data.network = network;
  return Object.keys(data).length ? data : null;
}
