// Jest global setup of the integration project (see lifecycle.ts).
//
// Jest imports this file with Node's own ESM loader, which neither knows ts-jest nor maps
// our '.js' import specifiers to '.ts' files; tsx's tsImport does both, for this import only.
import { tsImport } from 'tsx/esm/api';

import type * as Lifecycle from './lifecycle.js';

export default async function globalSetup(): Promise<void> {
  const lifecycle = (await tsImport('./lifecycle.ts', import.meta.url)) as typeof Lifecycle;
  await lifecycle.setupTestCluster();
}
