// pgpass (a dependency of pg) has no types of its own.
declare module 'pgpass' {
  function pgpass(connInfo: Record<string, unknown>, cb: (password?: string) => void): void;
  export default pgpass;
}
