import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeServiceContract } from '@cairn/service-testing';
import { registryBlueprint } from '../src/registry.blueprint';

// The registry keeps local files (artifacts, the generated audit key): not in the checkout.
const home = mkdtempSync(path.join(os.tmpdir(), 'cairn-registry-contract-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describeServiceContract(registryBlueprint, {
  CAIRN_HOME: home,
  CAIRN_REGISTRY_AUDIT_KEY_DIR: path.join(home, 'keys'),
});
