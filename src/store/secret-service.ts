// Is a Secret Service really there? @napi-rs/keyring quietly switches to the
// kernel keyring (keyutils) when no Secret Service answers on the session bus:
// writes then "succeed" into memory that is gone at logout or reboot, taking
// the store's data key with it. Before writing to the keychain on Linux, acct
// asks the bus itself whether org.freedesktop.secrets has an owner or can be
// started. dbus-next speaks the D-Bus protocol in JavaScript (the maintained
// fork @jellybrick/dbus-next: dbus-next itself has had no release since 2021
// and pulls xml2js 0.4.23, CVE-2023-0842); it is loaded
// only on these rare paths (creating a store, diagnosing a missing key), and
// by the keychain agent, which keeps its connection (agent/secret-service.ts).
import type * as DBus from '@jellybrick/dbus-next';

export const SECRETS = 'org.freedesktop.secrets';

/** A connection to the session bus, as the keychain agent keeps one and secretServiceOnBus makes one. */
export interface SessionBus {
  dbus: typeof DBus;
  bus: DBus.MessageBus;
  /** Rejects when the connection fails (dbus-next reports that as an event). */
  failed: Promise<never>;
  /** `p`, or the connection's failure if that comes first. */
  withBus<T>(p: Promise<T>): Promise<T>;
}

export async function connectSessionBus(): Promise<SessionBus> {
  const dbusModule = await import('@jellybrick/dbus-next');
  const dbus = (dbusModule as unknown as { default?: typeof DBus }).default ?? dbusModule;
  const bus = dbus.sessionBus();
  // The bus re-emits its connection's errors; the typings declare only connect and message.
  const failed = new Promise<never>((_, reject) => (bus as unknown as NodeJS.EventEmitter).on('error', reject));
  failed.catch(() => {}); // observed by whoever awaits it; an unobserved failure is not a crash here
  return { dbus, bus, failed, withBus: (p) => Promise.race([p, failed]) };
}

export async function secretServiceOnBus(): Promise<boolean> {
  const { bus, withBus } = await connectSessionBus();
  const ask = async () => {
    const proxy = await bus.getProxyObject('org.freedesktop.DBus', '/org/freedesktop/DBus');
    const daemon = proxy.getInterface('org.freedesktop.DBus') as unknown as {
      NameHasOwner(name: string): Promise<boolean>;
      ListActivatableNames(): Promise<string[]>;
    };
    if (await daemon.NameHasOwner(SECRETS)) return true;
    return (await daemon.ListActivatableNames()).includes(SECRETS);
  };
  try {
    return await withBus(ask());
  } finally {
    bus.disconnect();
  }
}
