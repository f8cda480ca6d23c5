import { isStatus, statusMismatch } from '../statuscheck';
import { kernel, server, status } from './fixtures';

describe('status check', () => {
  it('accepts a status document', () => {
    expect(statusMismatch(status(server(), [kernel()]))).toBeNull();
    expect(isStatus(status(server({ deadline: null, reason: null })))).toBe(
      true
    );
  });
  it('refuses what is not one: an error page, an older server, a wrong value', () => {
    expect(statusMismatch(null)).toBe('status: null instead of object');
    expect(statusMismatch('<html>Bad gateway</html>')).toMatch(/instead of/);
    const old = status(server()) as unknown as Record<string, unknown>;
    delete (old.server as Record<string, unknown>).autosave_at;
    expect(statusMismatch(old)).toBe('status.server.autosave_at: missing');
    const wrong = status(server(), [kernel({ deadline: 'tomorrow' })]);
    expect(statusMismatch(wrong)).toMatch(/^status\.kernels\[0\]\.deadline/);
    const reason = { ...server(), reason: 'bored' };
    expect(statusMismatch(status(reason as never))).toMatch(/reason/);
    expect(statusMismatch({ ...status(server()), kernels: 'none' })).toMatch(
      /kernels: string instead of array/
    );
  });
  it('lets keys it does not know through (the server side refuses them)', () => {
    expect(isStatus({ ...status(server()), extra: 1 })).toBe(true);
  });
});
