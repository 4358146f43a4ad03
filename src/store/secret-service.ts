// Is a Secret Service really there? @napi-rs/keyring quietly switches to the
// kernel keyring (keyutils) when no Secret Service answers on the session bus:
// writes then "succeed" into memory that is gone at logout or reboot, taking
// the store's data key with it. Before writing to the keychain on Linux, acct
// asks the bus itself whether org.freedesktop.secrets has an owner or can be
// started. dbus-next speaks the D-Bus protocol in JavaScript; it is loaded
// only on these rare paths (creating a store, diagnosing a missing key).
const SECRETS = 'org.freedesktop.secrets';

export async function secretServiceOnBus(): Promise<boolean> {
  const dbus = await import('dbus-next');
  const bus = (dbus.default ?? dbus).sessionBus();
  // A bus that cannot be reached reports it as an event; make it the answer.
  const failed = new Promise<never>((_, reject) => bus.on('error', reject));
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
    return await Promise.race([ask(), failed]);
  } finally {
    bus.disconnect();
  }
}
