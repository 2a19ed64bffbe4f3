import { KEYRING_SERVICES, type KeyringService } from "@hoist/shared";

interface KeyringTarget {
  service: KeyringService;
  path: string;
  owner?: { uid: number; gid: number };
}

const USAGE =
  "usage: node services/api/dist/keyrings/main.js <service>=<path>[:<uid>[:<gid>]] ...  (service: builder, deployer or notifier; reads HOIST_MASTER_KEY_FILE, or HOIST_DATA_DIR/master.key, creating it when absent)";

/** `builder=/keyrings/builder/keyring.json`, `notifier=/k/notifier.json:1000` (owner uid, gid = uid unless given). */
export function parseTargets(args: string[]): KeyringTarget[] {
  if (args.length === 0) throw new Error(USAGE);
  return args.map((arg) => {
    const m = /^([a-z]+)=([^:]+)(?::(\d+)(?::(\d+))?)?$/.exec(arg);
    if (!m) throw new Error(`"${arg}" is not <service>=<path>[:<uid>[:<gid>]]\n${USAGE}`);
    const service = m[1] as string;
    if (!(KEYRING_SERVICES as string[]).includes(service)) {
      throw new Error(`"${service}" holds no keyring: one of ${KEYRING_SERVICES.join(", ")} (the API holds the master key)`);
    }
    const path = m[2] as string;
    if (!path.startsWith("/")) throw new Error(`"${path}": give the keyring's absolute path`);
    const uid = m[3] === undefined ? undefined : Number(m[3]);
    const owner = uid === undefined ? undefined : { uid, gid: m[4] === undefined ? uid : Number(m[4]) };
    return { service: service as KeyringService, path, ...(owner ? { owner } : {}) };
  });
}
