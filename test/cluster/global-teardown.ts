// Jest global teardown of the integration project (see lifecycle.ts and global-setup.ts).
import { tsImport } from 'tsx/esm/api';

import type * as Lifecycle from './lifecycle.js';

export default async function globalTeardown(): Promise<void> {
  const lifecycle = (await tsImport('./lifecycle.ts', import.meta.url)) as typeof Lifecycle;
  await lifecycle.teardownTestCluster();
}
