import { startKafkaMock } from '../src/kafka-mock';
test('missing gcc', async () => {
  const old = process.env.PATH;
  process.env.PATH = '/nonexistent';
  try {
    await expect(startKafkaMock()).rejects.toThrow(/ensure-system-deps/);
    await startKafkaMock().catch((e: Error) => console.log(e.message));
  } finally {
    process.env.PATH = old;
  }
});
