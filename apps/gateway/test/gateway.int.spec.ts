import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeServiceContract } from '@cairn/service-testing';
import { gatewayBlueprint } from '../src/gateway.blueprint';

// The gateway generates its identity-token key when none is configured: not in the checkout.
const home = mkdtempSync(path.join(os.tmpdir(), 'cairn-gateway-contract-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

describeServiceContract(gatewayBlueprint, {
  CAIRN_IDENTITY_KEY_DIR: path.join(home, 'keys'),
  CAIRN_ADMIN_PASSWORD: 'contract-test-admin',
});
