// Types for browser-lib.mjs (used from the TypeScript tests).
export interface WalkResult {
  stoppedAt?: string;
  finalUrl?: string;
  status?: number;
  html?: string;
  trail: string[];
}
export declare function walk(
  startUrl: string,
  options?: { login?: string; deny?: boolean; stopAt?: (url: URL) => boolean; maxSteps?: number },
): Promise<WalkResult>;
export declare function authorize(authorizationUrl: string, options?: { login?: string; deny?: boolean }): Promise<string>;
export declare function driveDevice(verificationUriComplete: string, options?: { login?: string; approve?: boolean }): Promise<WalkResult>;
export declare function parseForms(
  html: string,
  baseUrl: string,
): { id?: string; action: string; method: string; fields: Record<string, string> }[];
