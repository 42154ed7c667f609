import { hashPassword, needsRehash, SCRYPT_PARAMS, verifyPassword } from './password-hash';

describe('password hashes (scrypt)', () => {
  it('verify the right password and refuse a wrong one', async () => {
    const stored = await hashPassword('correct horse battery staple');
    expect(stored).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    await expect(verifyPassword('correct horse battery staple', stored)).resolves.toBe(true);
    await expect(verifyPassword('correct horse battery stapler', stored)).resolves.toBe(false);
    await expect(verifyPassword('', stored)).resolves.toBe(false);
  });

  it('salt every hash, so equal passwords hash differently', async () => {
    const [a, b] = await Promise.all([hashPassword('same password'), hashPassword('same password')]);
    expect(a).not.toBe(b);
  });

  it('compare Unicode passwords in NFKC form (the same password typed on two keyboards)', async () => {
    const stored = await hashPassword('caf\u00e9-password');
    await expect(verifyPassword('cafe\u0301-password', stored)).resolves.toBe(true);
  });

  it('refuse unreadable hashes and absurd parameters instead of computing them', async () => {
    const stored = await hashPassword('something long');
    await expect(verifyPassword('something long', 'plaintext')).resolves.toBe(false);
    await expect(verifyPassword('something long', stored.replace('ln=15', 'ln=30'))).resolves.toBe(false);
    await expect(verifyPassword('something long', stored.replace('$scrypt$', '$argon2$'))).resolves.toBe(
      false,
    );
  });

  it('read the parameters back from each hash, and flag weaker ones for a rehash', async () => {
    const weak = await hashPassword('old password', { ...SCRYPT_PARAMS, ln: 12 });
    expect(weak).toContain('ln=12');
    await expect(verifyPassword('old password', weak)).resolves.toBe(true);
    expect(needsRehash(weak)).toBe(true);
    expect(needsRehash(await hashPassword('new password'))).toBe(false);
  });
});
