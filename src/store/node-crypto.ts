// node:crypto, loaded on first use. Loading it pulls in Node's stream modules,
// about 8 ms that commands which never seal or unseal anything (list, apps,
// completion) should not spend. process.getBuiltinModule is synchronous
// (Node 20.16+), so callers stay as they are.
let loaded: typeof import('node:crypto') | undefined;

export function nodeCrypto(): typeof import('node:crypto') {
  return (loaded ??= process.getBuiltinModule('node:crypto'));
}
