type GlobalWithPg = typeof globalThis & { __cairnPostgres?: { stop(): Promise<void> } };

export default async function globalTeardown(): Promise<void> {
  await (globalThis as GlobalWithPg).__cairnPostgres?.stop();
}
