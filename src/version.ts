// acct's version, set by the build (scripts/build.mjs); running from src/ it is a development version.
declare const __VERSION__: string;
export const VERSION = typeof __VERSION__ === 'string' ? __VERSION__ : '0.0.0-dev';
