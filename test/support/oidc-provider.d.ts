// oidc-provider ships no type declarations; the tests use it as an untyped module.
declare module 'oidc-provider' {
  const Provider: any;
  export default Provider;
}
